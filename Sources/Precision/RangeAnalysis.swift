import FoundationEssentials
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
    public private(set) var measurements: [String: Measurement] = [:]
    /// Where the inputs came from, for the report.
    public let source: String

    /// Runs `model` (float32, unchanged) once per feed with every float32 intermediate as an extra
    /// output, through a session `makeSession` opens from serialized model bytes.
    public init(model: Model, feeds: [[String: Tensor]], source: String,
                makeSession: (Data) throws -> any Session) throws {
        self.source = source
        let probe = Model(proto: model.message())
        let inference = TypeInference(probe)
        let types = inference.types(in: probe.graph)
        var declared = Set(probe.graph.outputs.map(\.name))
        let sequences = probe.graph.nonTensorValues(order: (try? TopologicalSort.order(probe.graph).get()) ?? probe.graph.nodes)
        for node in probe.graph.nodes where node.subgraphs.isEmpty {
            for output in node.outputs where !output.isEmpty && types[output] == .float32 && !sequences.contains(output) && !declared.contains(output) {
                probe.graph.outputs.append(ValueInfo(name: output, elementType: .float32, shape: nil))
                declared.insert(output)
            }
        }
        for input in probe.graph.inputs where types[input.name] == .float32 { declared.insert(input.name) }
        let session = try makeSession(try probe.serialized())
        for feed in feeds {
            let outputs = try session.run(feed)
            for (name, tensor) in outputs.merging(feed, uniquingKeysWith: { a, _ in a }) where tensor.dtype == .float32 {
                var m = Measurement(largestAbs: 0, nonFinite: false, elements: tensor.elementCount)
                tensor.withUnsafeBufferPointer(as: Float.self) { values in
                    var largest: Float = 0
                    var bad = false
                    for v in values { if v.isFinite { largest = max(largest, abs(v)) } else { bad = true } }
                    m.largestAbs = Double(largest)
                    m.nonFinite = bad
                }
                if let old = measurements[name] {
                    m.largestAbs = max(m.largestAbs, old.largestAbs)
                    m.nonFinite = m.nonFinite || old.nonFinite
                }
                measurements[name] = m
            }
        }
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
