import FoundationEssentials
import Inference
import ONNX
import Tensors

/// Measures every float32 intermediate of a model's main graph in a float32 reference run, and keeps
/// in float32 the nodes whose inputs or outputs would overflow float16. ONNX Runtime's CPU provider
/// computes many float16 ops in float32, so a model whose activations reach 2e7 validates there and
/// still gives Inf on a GPU: this decides from magnitudes, not from a CPU comparison.
public struct RangeAnalysis: Sendable {
    /// Largest finite |x| of each measured value, and whether it held Inf/NaN in float32 already.
    public struct Measurement: Sendable, Codable {
        public var largestAbs: Double
        public var nonFinite: Bool
        public var elements: Int
    }
    public let measurements: [String: Measurement]
    /// Where the inputs came from, for the report.
    public let source: String

    /// The ranges of an activation-statistics pass (`ActivationStatistics.collect`).
    public init(statistics: ActivationStatistics, source: String) {
        self.source = source
        measurements = statistics.values.mapValues { Measurement(largestAbs: Double($0.largestAbs), nonFinite: $0.nonFinite, elements: $0.elements) }
    }

    /// Runs `model` (float32, unchanged) on each feed through `backend`, streamed batch by batch.
    public init(model: Model, feeds: [[String: Tensor]], source: String, on target: ExecutionTarget) throws {
        var remaining = feeds[...]
        let statistics = try ActivationStatistics.collect(model: model, on: target) { remaining.popFirst() }
        self.init(statistics: statistics, source: source)
    }

    /// Reductions whose running sum is larger than their output: the float16 accumulator sees the sum.
    static let averagingReductions: Set<String> = ["ReduceMean", "GlobalAveragePool", "AveragePool"]

    /// The nodes of the main graph to keep in float32, with the reason, for `threshold` (|x| above it
    /// is treated as an overflow risk; 65504 is float16's largest value).
    public func decisions(for model: Model, threshold: Double) -> [String: String] {
        var kept: [String: String] = [:]
        for node in model.graph.nodes where node.subgraphs.isEmpty {
            var worst: (value: String, magnitude: Double, what: String)?
            func consider(_ value: String, _ magnitude: Double, _ what: String) {
                if magnitude > threshold && magnitude > (worst?.magnitude ?? 0) { worst = (value, magnitude, what) }
            }
            for value in node.inputs + node.outputs where !value.isEmpty {
                guard let m = measurements[value] else { continue }
                consider(value, m.largestAbs, "|x| reaches")
            }
            if Self.averagingReductions.contains(node.opType), let input = node.inputs.first, let output = node.outputs.first,
               let i = measurements[input], let o = measurements[output], o.elements > 0 {
                // The sum before the division: output magnitude times the number of values averaged.
                consider(output, o.largestAbs * Double(max(1, i.elements / o.elements)), "its running sum reaches about")
            }
            if let worst, let key = node.outputs.first(where: { !$0.isEmpty }) {
                kept[key] = "range analysis: \(worst.what) \(shortNumber(worst.magnitude)) at '\(worst.value)' (threshold \(shortNumber(threshold)))"
            }
        }
        return kept
    }

    /// The largest measured magnitude and where.
    public var largest: (value: String, magnitude: Double) {
        let m = measurements.max { $0.value.largestAbs < $1.value.largestAbs }
        return (m?.key ?? "", m?.value.largestAbs ?? 0)
    }
}
