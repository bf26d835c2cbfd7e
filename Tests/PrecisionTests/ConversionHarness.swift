import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors

/// Converts a model the way `halfpipe convert` does (prepare, range analysis on the feed, convert,
/// ORT's load check) and runs the float32 original and the converted model on the same feed.
enum ConversionHarness {
    struct Result {
        var report: ConversionReport
        var converted: Model
        var reference: [String: Tensor]
        var candidate: [String: Tensor]
    }

    static func sessionOptions() -> SessionOptions {
        var o = SessionOptions()
        o.intraOpThreads = 2
        return o
    }

    static var target: ExecutionTarget { ExecutionTarget(backend: ORTBackend(), options: sessionOptions()) }

    static func run(_ model: Model, feeds: [String: Tensor], options: ConversionOptions = ConversionOptions(target: .float16),
                    rangeThreshold: Double? = 8192) throws -> Result {
        let original = try model.serialized()
        var options = options
        var report = try ModelConversion.prepare(model, options: options)
        if let rangeThreshold {
            let ranges = try RangeAnalysis(model: model, feeds: [feeds], source: "test feed", on: target)
            options.keptNodes = ranges.decisions(for: model, threshold: rangeThreshold)
            report.range = .init(source: "test feed", threshold: rangeThreshold, measuredValues: ranges.measurements.count,
                                 largestAbs: ranges.largest.magnitude, largestValue: ranges.largest.value, keptNodes: options.keptNodes.count)
        }
        let (convertedModel, convertedReport) = try BackendProbe.convert(prepared: try model.serialized(), report: report, options: options, on: target)
        let outcome = (model: convertedModel, report: convertedReport)
        let a = try ORTSession(serialized: original, options: ORTOptions(sessionOptions()))
        let b = try ORTSession(serialized: try outcome.model.serialized(), options: ORTOptions(sessionOptions()))
        var feedB = feeds
        for input in b.inputs {
            if let t = feeds[input.name], let want = input.elementType, want != t.dtype { feedB[input.name] = try t.converted(to: want) }
        }
        return Result(report: outcome.report, converted: outcome.model, reference: try a.run(feeds), candidate: try b.run(feedB))
    }

    static func relativeL2(_ a: Tensor, _ b: Tensor) throws -> Double {
        let x = try a.floatValues(), y = try b.floatValues()
        var num = 0.0, den = 0.0
        for (p, q) in zip(x, y) { num += Double(p - q) * Double(p - q); den += Double(q) * Double(q) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    static func cosine(_ a: Tensor, _ b: Tensor) throws -> Double {
        let x = try a.floatValues(), y = try b.floatValues()
        var dot = 0.0, nx = 0.0, ny = 0.0
        for (p, q) in zip(x, y) { dot += Double(p) * Double(q); nx += Double(p) * Double(p); ny += Double(q) * Double(q) }
        return dot / max((nx * ny).squareRoot(), 1e-30)
    }

    /// Casts that do nothing (same type in and out) or feed nothing: a clean conversion has none.
    static func redundantCasts(_ model: Model) -> [String] {
        let inference = TypeInference(model)
        var found: [String] = []
        for graph in model.allGraphs {
            let types = inference.types(in: graph), uses = DefUse(graph), outputs = Set(graph.outputs.map(\.name))
            for node in graph.nodes where node.opType == "Cast" {
                guard let i = node.inputs.first, let o = node.outputs.first else { continue }
                if types[i] != nil && types[i] == types[o] && !outputs.contains(o) { found.append("identity \(node.label)") }
                if uses.consumers(of: o).isEmpty && !outputs.contains(o) { found.append("dead \(node.label)") }
                if node.inputs.contains(o) { found.append("self-referencing \(node.label)") }
            }
        }
        return found
    }
}
