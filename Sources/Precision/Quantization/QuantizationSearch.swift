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
        /// The relative L2 target; nil when only an agreement was asked for.
        public var tolerance: Double?
        public var errorBefore: Double
        public var errorAfter: Double
        /// With an agreement target: the fraction of argmax positions (a classifier's sample, a
        /// recognizer's time step) where int8 picks float32's class, wanted and reached.
        public var targetAgreement: Double?
        public var agreementBefore: Double?
        public var agreementAfter: Double?
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
    /// The reference's classes (`classes(of:)`) by output, per validation batch: filled by `run`
    /// when the target has an agreement.
    private var referenceClasses: [[String: [Int]]] = []
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

    /// What a candidate does to the outputs: the worst relative L2 over them, each output's error
    /// pooled over the validation batches (‖Δ‖² and ‖x‖² summed before the ratio: a batch whose
    /// output is nearly zero, a text map of a picture without text, would otherwise blow the ratio
    /// up), and the fraction of argmax positions along each output's last axis that agree.
    struct Measure {
        var relativeL2: Double
        var agreement: Double
        static let exact = Measure(relativeL2: 0, agreement: 1)
    }

    /// What the search must reach: a relative L2 bound, an argmax agreement, or both.
    public struct Target: Sendable {
        public var relativeL2: Double?
        public var agreement: Double?
        public init(relativeL2: Double? = nil, agreement: Double? = nil) {
            self.relativeL2 = relativeL2
            self.agreement = agreement
        }
        func met(by m: Measure) -> Bool {
            m.relativeL2 <= (relativeL2 ?? .infinity) && m.agreement >= (agreement ?? 0)
        }
    }

    /// `agreement`: also count the argmax agreement (only an agreement target needs it; the
    /// reference's classes are computed once, in `run`).
    mutating func measure(quantizing layers: Set<String>, plan: QuantizationPlan, agreement: Bool) throws -> Measure {
        guard !layers.isEmpty else { return .exact }
        runs += 1
        let bytes = try model(quantizing: layers, plan: plan).serialized()
        let session = try runtime.session(.bytes(bytes, name: "int8 candidate"))
        let outputs = try feeds.map { try session.run($0) }
        let names = Array(Set(reference.flatMap(\.keys))).sorted()
        let error = try MixedPrecisionSearch.errors(outputs, against: reference, names: names, elementwise: nil).relativeL2.values.max() ?? 0
        guard agreement else { return Measure(relativeL2: error, agreement: 1) }
        var agreeing = 0, positions = 0
        for (candidate, wanted) in zip(outputs, referenceClasses) {
            for (name, classes) in wanted {
                guard let tensor = candidate[name], let found = try Self.classes(of: tensor), found.count == classes.count else { continue }
                agreeing += zip(found, classes).filter { $0 == $1 }.count
                positions += classes.count
            }
        }
        return Measure(relativeL2: error, agreement: positions == 0 ? 1 : Double(agreeing) / Double(positions))
    }

    /// The argmax over the last axis at every position; nil for outputs without a class axis
    /// (rank < 2, or a last axis of one).
    static func classes(of tensor: Tensor) throws -> [Int]? {
        guard tensor.shape.dimensions.count >= 2, let width = tensor.shape.dimensions.last, width > 1 else { return nil }
        let values = try tensor.converted(to: .float32).elements(as: Float.self)
        return stride(from: 0, to: values.count, by: width).map { start in
            var best = start
            for k in start..<(start + width) where values[k] > values[best] { best = k }
            return best - start
        }
    }

    /// Searches from `plan`'s layers for the largest set that meets `target`.
    public mutating func run(plan: QuantizationPlan, target: Target, label: (String) -> String) throws -> (layers: Set<String>, outcome: Outcome) {
        let all = plan.quantizedLayers
        let agreement = target.agreement != nil
        if agreement {
            referenceClasses = try reference.map { outputs in try outputs.compactMapValues { try Self.classes(of: $0) } }
        }
        let before = try measure(quantizing: all, plan: plan, agreement: agreement)
        var outcome = Outcome(tolerance: target.relativeL2, errorBefore: before.relativeL2, errorAfter: before.relativeL2,
                              targetAgreement: target.agreement, agreementBefore: target.agreement.map { _ in before.agreement },
                              agreementAfter: target.agreement.map { _ in before.agreement }, runs: runs, keptFloat: [], effects: [])
        guard !target.met(by: before) else { return (all, outcome) }
        // Each layer's own effect, measured once; ranked by relative L2, which tells layers apart
        // where one layer alone rarely flips an argmax.
        var effects: [(key: String, error: Double)] = []
        for key in all.sorted() { effects.append((key, try measure(quantizing: [key], plan: plan, agreement: false).relativeL2)) }
        effects.sort { $0.error != $1.error ? $0.error > $1.error : $0.key < $1.key }
        outcome.effects = effects.map { Effect(node: label($0.key), relativeL2: $0.error) }
        // The fewest of the most harmful to send back: bisect k (removing all meets any target).
        var low = 0, high = effects.count, best = (k: effects.count, measure: Measure.exact)
        while low < high {
            let k = (low + high) / 2
            let m = try measure(quantizing: Set(effects.dropFirst(k).map(\.key)), plan: plan, agreement: agreement)
            if target.met(by: m) { best = (k, m); high = k } else { low = k + 1 }
        }
        let removed = effects.prefix(best.k)
        outcome.keptFloat = removed.map { Effect(node: label($0.key), relativeL2: $0.error) }
        outcome.errorAfter = best.measure.relativeL2
        if target.agreement != nil { outcome.agreementAfter = best.measure.agreement }
        outcome.runs = runs
        return (all.subtracting(removed.map(\.key)), outcome)
    }
}
