import FoundationEssentials
import Inference
import ONNX
import Tensors

/// The largest set of int8 layers whose model stays within an output tolerance: each planned
/// layer's own effect is measured once (that layer alone in int8, the rest float), then the most
/// harmful ones go back to float, as few as a bisection over that order finds. |S| + log₂|S| + 1
/// model runs for S planned layers, where onnxconverter-common's blind halving spends O(k log n)
/// conversions on k sensitive nodes and measures none of them.
public struct QuantizationSearch {
    /// What the search found: the layers sent back to float with their measured effect (the
    /// worst pooled relative L2 over the outputs with only that layer in int8), and the cost.
    public struct Outcome: Sendable, Codable {
        public var tolerance: Double
        public var errorBefore: Double
        public var errorAfter: Double
        public var runs: Int
        public var keptFloat: [Effect]
        /// Every planned layer's measured effect, most harmful first.
        public var effects: [Effect]
    }

    public struct Effect: Sendable, Codable, Equatable {
        public var node: String
        public var relativeL2: Double
    }

    let float32: Data
    let ranges: [String: TensorRange]
    let options: QuantizationOptions
    let runtime: ExecutionTarget
    let feeds: [[String: Tensor]]
    let reference: [[String: Tensor]]
    private(set) var runs = 0

    /// `float32` is the prepared model the plan was made on; `feeds` the validation batches.
    init(float32: Data, ranges: [String: TensorRange], options: QuantizationOptions,
         runtime: ExecutionTarget, feeds: [[String: Tensor]]) throws {
        self.float32 = float32
        self.ranges = ranges
        self.options = options
        self.runtime = runtime
        self.feeds = feeds
        let session = try runtime.session(.bytes(float32, name: "float32 (prepared)"))
        reference = try feeds.map { try session.run($0) }
    }

    /// The model with exactly `layers` (keys) in int8.
    func model(quantizing layers: Set<String>, plan: QuantizationPlan) throws -> Model {
        let model = Model(proto: try Model.decode(float32, path: "float32 (prepared)"))
        let restricted = plan.restricted(to: layers, graph: model.graph, ranges: ranges)
        _ = try QDQRewrite.apply(restricted, to: model, options: options)
        return model
    }

    /// The worst relative L2 over the outputs with `layers` in int8, each output's error pooled
    /// over the validation batches (‖Δ‖² and ‖x‖² summed before the ratio): a batch whose output
    /// is nearly zero (a text map of a picture without text) would otherwise blow the ratio up.
    mutating func error(quantizing layers: Set<String>, plan: QuantizationPlan) throws -> Double {
        guard !layers.isEmpty else { return 0 }
        runs += 1
        let bytes = try model(quantizing: layers, plan: plan).serialized()
        let session = try runtime.session(.bytes(bytes, name: "int8 candidate"))
        let outputs = try feeds.map { try session.run($0) }
        let names = Array(Set(reference.flatMap(\.keys)))
        return try MixedPrecisionSearch.errors(outputs, against: reference, names: names, elementwise: nil).relativeL2.values.max() ?? 0
    }

    /// Searches from `plan`'s layers for the largest set within `tolerance`.
    public mutating func run(plan: QuantizationPlan, tolerance: Double, label: (String) -> String) throws -> (layers: Set<String>, outcome: Outcome) {
        let all = plan.quantizedLayers
        let before = try error(quantizing: all, plan: plan)
        var outcome = Outcome(tolerance: tolerance, errorBefore: before, errorAfter: before, runs: runs, keptFloat: [], effects: [])
        guard before > tolerance else { return (all, outcome) }
        // Each layer's own effect, measured once.
        var effects: [(key: String, error: Double)] = []
        for key in all.sorted() { effects.append((key, try error(quantizing: [key], plan: plan))) }
        effects.sort { $0.error != $1.error ? $0.error > $1.error : $0.key < $1.key }
        outcome.effects = effects.map { Effect(node: label($0.key), relativeL2: $0.error) }
        // The fewest of the most harmful to send back: bisect k (removing all meets any tolerance).
        var low = 0, high = effects.count, best = (k: effects.count, error: 0.0)
        while low < high {
            let k = (low + high) / 2
            let e = try error(quantizing: Set(effects.dropFirst(k).map(\.key)), plan: plan)
            if e <= tolerance { best = (k, e); high = k } else { low = k + 1 }
        }
        let removed = effects.prefix(best.k)
        outcome.keptFloat = removed.map { Effect(node: label($0.key), relativeL2: $0.error) }
        outcome.errorAfter = best.error
        outcome.runs = runs
        return (all.subtracting(removed.map(\.key)), outcome)
    }
}
