import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ONNXRuntime
import Tensors

/// `convert --check`: the float32 model and the converted one on the same inputs, output by output.
struct ConversionCheck {
    enum Source {
        case path(String)
        case bytes(Data)
    }
    let reference: Source
    let candidate: String
    let options: SessionOptions
    let tolerance: ComparisonTolerance
    let maxRelativeL2: Double
    /// Whether the elementwise rule applies too (when --rtol/--atol were given).
    let elementwise: Bool

    struct CheckVerdict: Encodable {
        var output: String
        var relativeL2: Double?
        var cosine: Double?
        var maxAbsError: Double?
        var failingElements: Int?
        var passed: Bool
        var why: String
    }

    struct CheckReport: Encodable {
        var maxRelativeL2: Double
        var elementwise: ComparisonTolerance?
        var outputs: [CheckVerdict]
        var passed: Bool
    }

    /// Prints the comparison; returns whether every output is within tolerance.
    func run(_ feeds: [String: Tensor], printJSON: Bool) throws -> Bool {
        let a: ORTSession
        let name: String
        switch reference {
        case .path(let p): a = try ORTSession(contentsOf: p, options: options); name = p
        case .bytes(let d): a = try ORTSession(serialized: d, options: options, name: "float32 model after input folding"); name = "float32 (input folded)"
        }
        let b = try ORTSession(contentsOf: candidate, options: options)
        let outputsA = try a.run(feeds)
        let outputsB = try b.run(try Compare.feeds(feeds, convertedFor: b.inputs))
        var report = CompareReport(reference: name, candidate: candidate, tolerance: tolerance)
        for output in a.outputs {
            guard let x = outputsA[output.name] else { continue }
            guard let y = outputsB[output.name] else {
                // An output the converted model lacks is a failure, not something to skip.
                var missing = CompareReport.Entry(name: output.name, op: nil, isOutput: true, shape: x.shape.dimensions)
                missing.problem = "the converted model has no output '\(output.name)'"
                report.entries.append(missing)
                continue
            }
            report.entries.append(Compare.compare(.init(name: output.name, op: nil), x, y, tolerance, isOutput: true))
        }
        // The verdict: relative L2 within the bound, and no NaN/Inf the float32 model does not have;
        // the elementwise rule too when tolerances were asked for.
        var verdicts: [CheckVerdict] = []
        for entry in report.outputs {
            var v = CheckVerdict(output: entry.name, relativeL2: entry.metrics?.relativeL2, cosine: entry.metrics?.cosineSimilarity,
                                 maxAbsError: entry.metrics?.maxAbsError, failingElements: entry.metrics?.failingElements, passed: false, why: "")
            if let m = entry.metrics {
                let newNonFinite = m.nonFinite.actualNaN + m.nonFinite.actualInf > m.nonFinite.referenceNaN + m.nonFinite.referenceInf
                if newNonFinite { v.why = "NaN/Inf the float32 model does not give" }
                else if !(m.relativeL2 <= maxRelativeL2) { v.why = "relative L2 \(NumberText.scientific(m.relativeL2)) > \(maxRelativeL2)" }
                else if elementwise && !m.passed { v.why = "\(m.failingElements) element(s) beyond rtol \(tolerance.rtol) and atol \(tolerance.atol)" }
                else { v.passed = true }
            } else {
                v.why = entry.problem ?? "not comparable"
            }
            verdicts.append(v)
        }
        let passed = !verdicts.isEmpty && verdicts.allSatisfy(\.passed)
        if printJSON {
            print(try ReportJSON.text(CheckReport(maxRelativeL2: maxRelativeL2, elementwise: elementwise ? tolerance : nil, outputs: verdicts, passed: passed)))
        } else {
            print("")
            print("check against \(name) (relative L2 ≤ \(maxRelativeL2)\(elementwise ? ", rtol \(tolerance.rtol) / atol \(tolerance.atol) elementwise" : "")):")
            for v in verdicts {
                let figures = "rel L2 \(v.relativeL2.map(NumberText.scientific) ?? "-"), cosine \(v.cosine.map { NumberText.fixed($0, 6) } ?? "-"), max abs \(v.maxAbsError.map(NumberText.scientific) ?? "-")"
                print("  \(v.output): \(figures): \(v.passed ? "PASS" : "FAIL (\(v.why))")")
            }
            print(passed ? "PASS: all \(verdicts.count) outputs within bounds" : "FAIL: \(verdicts.filter { !$0.passed }.count) of \(verdicts.count) outputs out of bounds")
        }
        return passed
    }
}

/// Output paths that would overwrite the input are refused before anything is written.
enum OutputPath {
    static func same(_ x: String, _ y: String) -> Bool {
        let a = URL(fileURLWithPath: x).standardizedFileURL.path, b = URL(fileURLWithPath: y).standardizedFileURL.path
        return a == b || (realPath(a) != nil && realPath(a) == realPath(b))
    }

    /// Refuses outputs that would replace the input model or the external-data file it reads
    /// (`<output>.data`, written with --external-data), and a report written over either.
    static func refuseOverwrite(input: String, output: String, report: String?) throws {
        if same(input, output) {
            throw CLIError("-o \(output) is the input model; write the converted model to another file (the input is never overwritten)")
        }
        if let report, same(report, input) || same(report, output) {
            throw CLIError("--report \(report) would overwrite \(same(report, input) ? "the input model" : "the converted model"); give another path")
        }
        // The data file our save would write beside the output; if the input names it, it is the input's.
        let dataFile = URL(fileURLWithPath: output).lastPathComponent + ".data"
        let dataPath = URL(fileURLWithPath: output).deletingLastPathComponent().appendingPathComponent(dataFile).path
        let inputDirectory = URL(fileURLWithPath: input).deletingLastPathComponent().path
        if FileManager.default.fileExists(atPath: dataPath), same(URL(fileURLWithPath: dataPath).deletingLastPathComponent().path, inputDirectory),
           let bytes = try? FileBytes.read(input), bytes.firstRange(of: Array(dataFile.utf8)) != nil {
            throw CLIError("-o \(output) would replace \(dataPath), the external data of the input model; write the converted model elsewhere")
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
