import Detection
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
        /// With a detector's guard: the share of float32's boxes kept (F1 of the matches),
        /// wanted and reached.
        public var targetBoxes: Double?
        public var boxesBefore: Double?
        public var boxesAfter: Double?
        /// Samples the measures were taken on, and whether calibration saw them.
        public var samples = 0
        public var heldBack = false
        /// How the target was adapted to the data (a detector's pictures without boxes).
        public var note: String?
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
    /// The calibrated ranges candidates are written with (the job may switch calibrators).
    var ranges: [String: TensorRange]
    let options: QuantizationOptions
    let runtime: ExecutionTarget
    let feeds: [[String: Tensor]]
    let reference: [[String: Tensor]]
    /// How outputs are judged (nil: the worst relative L2 of whole outputs, argmax agreement).
    var judge: AccuracyGuard?
    private var referenceDetections: [[[Detection]]] = []
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
        var owners: [String: Set<String>] = [:]
        // As the model is written (with --rest fp16, its float layers in float16).
        _ = try QuantizationJob.write(plan.restricted(to: layers, graph: model.graph, ranges: ranges), into: model, options: options, owners: &owners)
        return model
    }

    /// What a candidate does to the outputs: the worst relative L2 over them, each output's error
    /// pooled over the validation batches (‖Δ‖² and ‖x‖² summed before the ratio: a batch whose
    /// output is nearly zero, a text map of a picture without text, would otherwise blow the ratio
    /// up), and the fraction of argmax positions along each output's last axis that agree.
    struct Measure {
        var relativeL2: Double
        var agreement: Double
        /// The F1 of the candidate's boxes against float32's (1 without a detector's guard).
        var boxes = 1.0
        static let exact = Measure(relativeL2: 0, agreement: 1)
    }

    /// What the search must reach: a relative L2 bound, an argmax agreement, or both.
    public struct Target: Sendable {
        public var relativeL2: Double?
        public var agreement: Double?
        public var boxes: Double?
        public init(relativeL2: Double? = nil, agreement: Double? = nil, boxes: Double? = nil) {
            self.relativeL2 = relativeL2
            self.agreement = agreement
            self.boxes = boxes
        }
        func met(by m: Measure) -> Bool {
            m.relativeL2 <= (relativeL2 ?? .infinity) && m.agreement >= (agreement ?? 0) && m.boxes >= (boxes ?? 0)
        }
    }

    /// `agreement`: also count the argmax agreement (only an agreement target needs it; the
    /// reference's classes are computed once, in `run`).
    mutating func measure(quantizing layers: Set<String>, plan: QuantizationPlan, agreement: Bool, boxes: Bool = false) throws -> Measure {
        guard !layers.isEmpty else { return .exact }
        runs += 1
        let bytes = try model(quantizing: layers, plan: plan).serialized()
        let outputs: [[String: Tensor]]
        do {
            let session = try runtime.session(.bytes(bytes, name: "int8 candidate"))
            outputs = try feeds.map { try session.run($0) }
        } catch where runtime.backend.refusal(in: error) != nil {
            // A candidate the backend refuses is as bad as can be: its layers rank first to go
            // back. Any other failure (memory, a broken model) is the job's error.
            return Measure(relativeL2: .infinity, agreement: 0, boxes: 0)
        }
        return try measure(outputs, agreement: agreement, boxes: boxes)
    }

    /// The measures of a candidate's `outputs` on the validation batches.
    func measure(_ outputs: [[String: Tensor]], agreement: Bool, boxes: Bool) throws -> Measure {
        // Without a guard's judge, whole outputs (a `.maps` judge splits nothing).
        let error = try (judge ?? AccuracyGuard(task: .maps, target: Target())).relativeL2(outputs, against: reference)
        var measure = Measure(relativeL2: error, agreement: 1)
        if boxes, let judge {
            var matched = 0, total = 0
            for (candidate, wanted) in zip(outputs, referenceDetections) {
                let found = try judge.detections(candidate) ?? []
                let m = AccuracyGuard.matches(wanted, found)
                (matched, total) = (matched + m.matched, total + m.total)
            }
            measure.boxes = total == 0 ? 1 : 2 * Double(matched) / Double(total)
        }
        guard agreement else { return measure }
        var agreeing = 0, positions = 0
        for (candidate, wanted) in zip(outputs, referenceClasses) {
            for (name, classes) in wanted {
                guard let tensor = candidate[name], let found = try Self.classes(of: tensor), found.count == classes.count else { continue }
                // Positions where float32 does not decide (a near tie) are left out.
                let decided = zip(found, classes).filter { $1 >= 0 }
                agreeing += decided.filter { $0 == $1 }.count
                positions += decided.count
            }
        }
        measure.agreement = positions == 0 ? 1 : Double(agreeing) / Double(positions)
        return measure
    }

    /// The reference's classes at every position, −1 where float32 does not decide: its best
    /// class leads the second by less than 1 % of the position's spread of values.
    static func decidedClasses(of tensor: Tensor) throws -> [Int]? {
        guard tensor.shape.dimensions.count >= 2, let width = tensor.shape.dimensions.last, width > 1 else { return nil }
        let values = try tensor.converted(to: .float32).elements(as: Float.self)
        return stride(from: 0, to: values.count, by: width).map { start in
            let row = values[start..<(start + width)]
            let sorted = row.sorted(by: >)
            let spread = sorted[0] - sorted[width - 1]
            guard sorted[0] - sorted[1] >= 0.01 * spread, spread > 0 else { return -1 }
            return row.firstIndex(of: sorted[0])! - start
        }
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

    /// The target as the validation data can judge it, with the reference's classes and boxes
    /// made once: boxes that are not there cannot be lost, so a detector whose float32 finds too
    /// few on these pictures is judged on its head's values instead.
    mutating func prepare(_ wanted: Target) throws -> (target: Target, boxes: Bool, note: String?) {
        if wanted.agreement != nil && referenceClasses.isEmpty {
            referenceClasses = try reference.map { outputs in try outputs.compactMapValues { try Self.decidedClasses(of: $0) } }
        }
        guard wanted.boxes != nil, let judge else { return (wanted, false, nil) }
        if referenceDetections.isEmpty { referenceDetections = try reference.map { try judge.detections($0) ?? [] } }
        let found = referenceDetections.joined().reduce(0) { $0 + $1.count }
        guard found < AccuracyGuard.minimumBoxes else { return (wanted, true, nil) }
        return (Target(relativeL2: AccuracyGuard.relativeL2), false,
                "float32 finds \(found) box(es) on these pictures (fewer than \(AccuracyGuard.minimumBoxes)): judged on the relative L2 of the head's boxes and scores instead")
    }

    /// How close a candidate comes to a target, for choosing between candidates: met first,
    /// then the target's own measure (boxes kept, classes kept, or the smallest relative L2).
    public struct Rank: Comparable, Sendable {
        public let met: Bool
        let value: Double
        public let text: String
        public static func < (a: Rank, b: Rank) -> Bool { (a.met ? 1 : 0, a.value) < (b.met ? 1 : 0, b.value) }
        public static func == (a: Rank, b: Rank) -> Bool { a.met == b.met && a.value == b.value }
    }

    /// `plan` with every planned layer in int8 (one run), ranked against `wanted`.
    mutating func rank(plan: QuantizationPlan, target wanted: Target) throws -> Rank {
        let (target, boxes, _) = try prepare(wanted)
        let m = try measure(quantizing: plan.quantizedLayers, plan: plan, agreement: target.agreement != nil, boxes: boxes)
        if boxes { return Rank(met: target.met(by: m), value: m.boxes, text: "boxes kept \(NumberText.fixed(100 * m.boxes, 1)) %") }
        if target.agreement != nil { return Rank(met: target.met(by: m), value: m.agreement, text: "classes kept \(NumberText.fixed(100 * m.agreement, 1)) %") }
        return Rank(met: target.met(by: m), value: -m.relativeL2, text: "relative L2 \(NumberText.scientific(m.relativeL2))")
    }

    /// Searches from `plan`'s layers for the largest set that meets `target`.
    public mutating func run(plan: QuantizationPlan, target wanted: Target, label: (String) -> String) throws -> (layers: Set<String>, outcome: Outcome) {
        let all = plan.quantizedLayers
        let (target, boxes, note) = try prepare(wanted)
        let agreement = target.agreement != nil
        let before = try measure(quantizing: all, plan: plan, agreement: agreement, boxes: boxes)
        var outcome = Outcome(tolerance: target.relativeL2, errorBefore: before.relativeL2, errorAfter: before.relativeL2,
                              targetAgreement: target.agreement, agreementBefore: target.agreement.map { _ in before.agreement },
                              agreementAfter: target.agreement.map { _ in before.agreement }, runs: runs, keptFloat: [], effects: [])
        if boxes { (outcome.targetBoxes, outcome.boxesBefore, outcome.boxesAfter) = (target.boxes, before.boxes, before.boxes) }
        outcome.samples = feeds.reduce(0) { $0 + ($1.values.first?.shape.dimensions.first ?? 1) }
        outcome.note = note
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
            let m = try measure(quantizing: Set(effects.dropFirst(k).map(\.key)), plan: plan, agreement: agreement, boxes: boxes)
            if target.met(by: m) { best = (k, m); high = k } else { low = k + 1 }
        }
        let removed = effects.prefix(best.k)
        outcome.keptFloat = removed.map { Effect(node: label($0.key), relativeL2: $0.error) }
        outcome.errorAfter = best.measure.relativeL2
        if target.agreement != nil { outcome.agreementAfter = best.measure.agreement }
        if boxes { outcome.boxesAfter = best.measure.boxes }
        outcome.runs = runs
        return (all.subtracting(removed.map(\.key)), outcome)
    }
}
