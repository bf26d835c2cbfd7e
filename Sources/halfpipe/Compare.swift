import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Inference
import Tensors

/// `halfpipe compare A B …`: runs a reference model and a candidate on the same inputs and
/// measures how far the candidate's outputs (and, with --all-tensors, intermediates) are off.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two models' outputs on the same inputs.",
        discussion: """
            A is the reference (e.g. FP32), B the candidate (e.g. its FP16 conversion). An element \
            fails only if |b − a| > atol AND |b − a| > rtol·|a| (Polygraphy's rule). Integer outputs \
            must match exactly. Exit code 1 when any output fails, 0 when all pass.

            Examples:
              halfpipe compare a.onnx a-fp16.onnx --random --shape x=1x3x640x640
              halfpipe compare a.onnx a-fp16.onnx --inputs feed.npz --rtol 1e-2 --atol 5e-2
              halfpipe compare a.onnx a-fp16.onnx --inputs feed.npz --all-tensors --json
              halfpipe compare det.onnx det-fp16.onnx --images photos/ --image-preset yolo640
            """
    )

    @Argument(help: "The reference model (A).")
    var reference: String

    @Argument(help: "The model to check against it (B).")
    var candidate: String

    @OptionGroup var feed: FeedOptions
    @OptionGroup var imageFeed: ImageFeedOptions

    @Option(help: "Relative tolerance (of |a|).")
    var rtol: Double = 1e-3

    @Option(help: "Absolute tolerance.")
    var atol: Double = 1e-5

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: "Also compare every intermediate tensor both models name, in graph order, and name the first one out of tolerance (outputs alone decide the exit code).")
    var allTensors = false

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Run the reference (A) on this device instead (cpu, cuda:N): the CUDA engine against ONNX Runtime on the CPU with the same model twice.", valueName: "device"))
    var referenceDevice: Device?

    func validate() throws {
        guard rtol.isFinite, rtol >= 0 else { throw ValidationError("--rtol \(rtol): use a finite tolerance ≥ 0, e.g. 1e-3") }
        guard atol.isFinite, atol >= 0 else { throw ValidationError("--atol \(atol): use a finite tolerance ≥ 0, e.g. 1e-5") }
    }

    func run() throws {
        let target = try runtime.target()
        var referenceTarget = target
        if let device = referenceDevice {
            referenceTarget = ExecutionTarget(backend: try Backends.backend(for: device, runtime: runtime), device: device, options: try runtime.sessionOptions())
        }
        let tolerance = ComparisonTolerance(rtol: rtol, atol: atol)
        let plan = allTensors ? try ExposedTensors(reference: reference, candidate: candidate) : nil
        let sessionA = try referenceTarget.session(plan.map { .bytes($0.reference, name: reference) } ?? .file(reference))
        let sessionB = try target.session(plan.map { .bytes($0.candidate, name: candidate) } ?? .file(candidate))
        var feeds = try feed.feeds(for: sessionA.inputs)
        if imageFeed.given {
            let images = try imageFeed.prepare(for: sessionA.inputs, model: reference)
            feeds[images.name] = try images.tensor()
            if !json { print(images.summary) }
        }
        let outputsA = try sessionA.run(feeds)
        let outputsB = try sessionB.run(try ModelComparison.converted(feeds, for: sessionB.inputs))

        let namesA = Set(sessionA.outputs.map(\.name)), namesB = Set(sessionB.outputs.map(\.name))
        let declared = plan?.declaredOutputs ?? namesA
        let order = plan?.order ?? sessionA.outputs.map { ExposedTensors.Tensor(name: $0.name, op: nil) }
        var report = CompareReport(reference: reference, candidate: candidate, tolerance: tolerance)
        report.onlyInReference = sessionA.outputs.map(\.name).filter { declared.contains($0) && !namesB.contains($0) }
        report.onlyInCandidate = sessionB.outputs.map(\.name).filter { !namesA.contains($0) }
        for tensor in order {
            guard let a = outputsA[tensor.name], let b = outputsB[tensor.name] else { continue }
            let entry = OutputComparison.compare(name: tensor.name, op: tensor.op, reference: a, candidate: b, tolerance: tolerance,
                                                 isOutput: declared.contains(tensor.name))
            report.entries.append(entry)
            if plan != nil, !entry.passed, report.firstDivergence == nil { report.firstDivergence = tensor }
        }
        guard !report.outputs.isEmpty else {
            throw CLIError("\(reference) and \(candidate) have no output name in common (A: \(sessionA.outputs.map(\.name).joined(separator: ", ")); B: \(sessionB.outputs.map(\.name).joined(separator: ", ")))")
        }
        if json {
            print(try ReportJSON.text(report))
        } else {
            print(report.text(allTensors: allTensors))
        }
        if !report.passed { throw ExitCode.failure }
    }
}

/// What `compare` found: per-output (and per-intermediate) metrics, verdicts, the first divergence.
struct CompareReport: Encodable {
    typealias Entry = OutputComparison

    var reference: String
    var candidate: String
    var tolerance: ComparisonTolerance
    /// Every compared tensor in graph order (only the outputs without --all-tensors).
    var entries: [Entry] = []
    var outputs: [Entry] { entries.filter(\.isOutput) }
    var firstDivergence: ExposedTensors.Tensor?
    var onlyInReference: [String] = []
    var onlyInCandidate: [String] = []
    var passed: Bool { outputs.allSatisfy(\.passed) }

    enum CodingKeys: String, CodingKey {
        case reference, candidate, tolerance, outputs, tensors, firstDivergence, onlyInReference, onlyInCandidate, passed
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reference, forKey: .reference)
        try c.encode(candidate, forKey: .candidate)
        try c.encode(tolerance, forKey: .tolerance)
        try c.encode(outputs, forKey: .outputs)
        // Intermediates only exist with --all-tensors; then every tensor is listed in graph order.
        if entries.contains(where: { !$0.isOutput }) { try c.encode(entries, forKey: .tensors) }
        try c.encode(firstDivergence, forKey: .firstDivergence)  // null, not absent, when none
        try c.encode(onlyInReference, forKey: .onlyInReference)
        try c.encode(onlyInCandidate, forKey: .onlyInCandidate)
        try c.encode(passed, forKey: .passed)
    }

    func text(allTensors: Bool) -> String {
        var header = ["output", "shape", "max abs", "mean abs", "rel L2", "cosine", "PSNR dB", "NaN/Inf", "failing", "top-1", "verdict"]
        if allTensors {
            header[0] = "tensor"
            header.insert("op", at: 1)
        }
        let rows = entries.map { entry -> [String] in
            var row = [entry.name, entry.shape.map(String.init).joined(separator: "x")]
            if let m = entry.metrics {
                row += [NumberText.scientific(m.maxAbsError), NumberText.scientific(m.meanAbsError), NumberText.scientific(m.relativeL2),
                        NumberText.fixed(m.cosineSimilarity, 6), NumberText.fixed(m.psnr, 1), "\(m.nonFinite.actualNaN + m.nonFinite.referenceNaN)/\(m.nonFinite.actualInf + m.nonFinite.referenceInf)",
                        "\(m.failingElements)", m.topK.map { NumberText.fixed($0.top1, 3) } ?? "-", m.passed ? "PASS" : "FAIL"]
            } else {
                row += Array(repeating: "-", count: 8) + ["FAIL"]
            }
            if allTensors { row.insert(entry.op ?? "-", at: 1) }
            return row
        }
        var lines = ["A (reference): \(reference)", "B (candidate): \(candidate)", "tolerance: rtol \(tolerance.rtol), atol \(tolerance.atol) (fails if both exceeded)"]
        // The headline: with hundreds of rows, the one tensor to look at first.
        if allTensors { lines.append(divergence) }
        lines.append("")
        lines += InspectReport.table(header, rows)
        for entry in entries { if let problem = entry.problem { lines.append("\(entry.name): \(problem)") } }
        if !onlyInReference.isEmpty { lines.append("only in A (not compared): \(onlyInReference.joined(separator: ", "))") }
        if !onlyInCandidate.isEmpty { lines.append("only in B (not compared): \(onlyInCandidate.joined(separator: ", "))") }
        if allTensors {
            let failing = entries.filter { !$0.passed }.count
            lines.append("")
            lines.append("\(entries.count) tensors compared, \(failing) out of tolerance")
            lines.append(divergence)
        }
        let failed = outputs.filter { !$0.passed }.count
        lines.append(failed == 0 ? "PASS: all \(outputs.count) outputs within tolerance" : "FAIL: \(failed) of \(outputs.count) outputs out of tolerance")
        return lines.joined(separator: "\n")
    }

    var divergence: String {
        firstDivergence.map { "first divergence: \($0.name) (\($0.op ?? "graph output"))" } ?? "first divergence: none"
    }
}

