import FoundationEssentials
import Inference
import ONNX
import Tensors

/// Automatic mixed precision: the largest set of nodes that can run in float16 with the outputs
/// within a tolerance. Range analysis seeds the float32 set; then one run of the whole float16
/// model, with every intermediate exposed beside float32's, measures each node's own effect (how
/// much error its output adds to its inputs'); the most harmful go back to float32, as few as a
/// bisection over that order finds. A model fine in float16 costs 2 runs (the reference and the
/// converted model); otherwise 4 + log₂(nodes). onnxconverter-common halves blindly, with a new
/// session per try and no measure of any node.
public struct MixedPrecisionSearch {
    public struct Outcome: Sendable, Codable {
        public var maxRelativeL2: Double
        public var elementwise: ComparisonTolerance?
        /// Model runs, the float32 reference included.
        public var runs = 0
        public var errorAllFloat16: Double = 0
        public var errorAfter: Double = 0
        /// Nodes sent back to float32 by the search, with the error each adds in float16.
        public var keptNodes: [Effect] = []
    }

    public struct Effect: Sendable, Codable, Equatable {
        public var node: String
        public var opType: String
        public var addedRelativeL2: Double
    }

    let float32: Data
    let base: ConversionReport
    let runtime: ExecutionTarget
    let feeds: [[String: Tensor]]
    let maxRelativeL2: Double
    let elementwise: ComparisonTolerance?
    private var reference: [[String: Tensor]] = []
    private(set) var outcome: Outcome

    /// `float32`: the prepared model (`ModelConversion.prepare`) as bytes; `base` its report.
    public init(float32: Data, base: ConversionReport, runtime: ExecutionTarget, feeds: [[String: Tensor]],
                maxRelativeL2: Double, elementwise: ComparisonTolerance?) {
        self.float32 = float32
        self.base = base
        self.runtime = runtime
        self.feeds = feeds
        self.maxRelativeL2 = maxRelativeL2
        self.elementwise = elementwise
        outcome = Outcome(maxRelativeL2: maxRelativeL2, elementwise: elementwise)
    }

    func convert(_ options: ConversionOptions) throws -> Model {
        let model = Model(proto: try Model.decode(float32, path: "<prepared model>"))
        _ = try ModelConversion.convert(model, options: options, prepared: base, validating: false)
        return model
    }

    /// Runs `model` on every feed (one model run per feed).
    mutating func run(_ model: Model, name: String) throws -> [[String: Tensor]] {
        let session = try runtime.session(.bytes(try model.serialized(), name: name))
        outcome.runs += feeds.count
        return try feeds.map { try session.run(try ModelComparison.converted($0, for: session.inputs)) }
    }

    /// Per value: the pooled relative L2 (‖Δ‖² and ‖x‖² summed over the feeds) and, with an
    /// elementwise tolerance, the worst |Δ| / (atol + rtol·|x|) (numpy.allclose's bound, as
    /// onnxconverter-common checks it: an element passes at ≤ 1).
    static func errors(_ outputs: [[String: Tensor]], against reference: [[String: Tensor]], names: [String],
                       elementwise: ComparisonTolerance?) throws -> (relativeL2: [String: Double], violation: [String: Double]) {
        var squares: [String: (error: Double, reference: Double)] = [:]
        var violation: [String: Double] = [:]
        for (got, want) in zip(outputs, reference) {
            for name in names {
                guard let x = want[name], let y0 = got[name], x.dtype == .float32, x.elementCount == y0.elementCount else { continue }
                let y = y0.dtype == .float32 ? y0 : try y0.converted(to: .float32)
                var e = 0.0, r = 0.0, worst = violation[name] ?? 0
                x.withUnsafeBufferPointer(as: Float.self) { a in
                    y.withUnsafeBufferPointer(as: Float.self) { b in
                        for i in 0..<a.count {
                            let d = Double(b[i]) - Double(a[i])
                            if d.isNaN || (d.isInfinite && a[i].isFinite) { e = .infinity; worst = .infinity; continue }
                            e += d * d
                            r += Double(a[i]) * Double(a[i])
                            if let t = elementwise { worst = max(worst, abs(d) / (t.atol + t.rtol * abs(Double(a[i])))) }
                        }
                    }
                }
                squares[name, default: (0, 0)].error += e
                squares[name, default: (0, 0)].reference += r
                violation[name] = worst
            }
        }
        let ratios = squares.mapValues { $0.reference > 0 ? ($0.error / $0.reference).squareRoot() : ($0.error > 0 ? Double.infinity : 0) }
        return (ratios, violation)
    }

    /// Whether the model's outputs meet the tolerance, and their worst relative L2.
    mutating func check(_ model: Model, outputs names: [String]) throws -> (passes: Bool, error: Double) {
        let outputs = try run(model, name: "mixed-precision candidate")
        let (ratios, violation) = try Self.errors(outputs, against: reference, names: names, elementwise: elementwise)
        let worst = ratios.values.max() ?? 0
        return (worst <= maxRelativeL2 && violation.values.allSatisfy { $0 <= 1 }, worst)
    }

    /// The options that meet the tolerance: `start` (range decisions in its kept nodes) plus the
    /// nodes the search sends back to float32.
    public mutating func run(start wanted: ConversionOptions) throws -> ConversionOptions {
        let prepared = Model(proto: try Model.decode(float32, path: "<prepared model>"))
        let outputs = prepared.graph.outputs.map(\.name)
        reference = try run(prepared, name: "float32 reference")
        // The all-float16 model, with every node the backend refuses sent back to float32 as
        // `--to fp16`'s probe does (`BackendProbe`), so no candidate meets a refusal (a ViT's
        // float16 cubic Resize, known only at run time).
        var start = wanted
        var all: Model, first: (passes: Bool, error: Double)
        var attempts = 0
        while true {
            all = try convert(start)
            do {
                first = try check(all, outputs: outputs)
                break
            } catch {
                attempts += 1
                guard attempts < 64, let refusal = runtime.backend.refusal(in: error),
                      BackendProbe.sendBack(refusal, in: all, options: &start, suspects: [:], backend: runtime.backend.name) != nil else { throw error }
            }
        }
        outcome.errorAllFloat16 = first.error
        outcome.errorAfter = first.error
        if first.passes { return start }

        // Each converted node's own effect, from one run of each model with every intermediate.
        let converted = prepared.graph.nodes.filter { node in
            guard node.opType != "Constant", let key = node.outputs.first, !key.isEmpty, start.keptNodes[key] == nil, node.subgraphs.isEmpty else { return false }
            return !start.blockedOpTypes.contains { $0.matches(node.opType) } && !start.blockedNodeNames.contains { $0.matches(node.name) }
        }
        let floatValues = ActivationStatistics.floatValues(of: prepared)
        let wanted = Set(converted.flatMap(\.outputs).filter(floatValues.contains))
        let (expectedAll, gotAll, watched) = try runExposing(prepared, all, wanted)
        // With an elementwise bound, a node's error is its worst element against that bound (the
        // outputs fail on single elements: a box offset near zero); else its relative L2.
        let measured = try Self.errors(gotAll, against: expectedAll, names: Array(watched), elementwise: elementwise)
        let errors = elementwise == nil ? measured.relativeL2 : measured.violation
        var effects: [(node: Node, added: Double)] = converted.compactMap { node in
            guard let out = errors[node.outputs[0]] else { return nil }
            let inputs = node.inputs.compactMap { errors[$0] }.max() ?? 0
            return (node, out.isFinite ? max(0, out - inputs) : .infinity)
        }
        // Nodes left unwatched (exposing them made the runtime refuse a node) have no measure:
        // they go back first, so that every node in float32 still meets any tolerance.
        let unwatched = wanted.subtracting(watched)
        effects += converted.filter { unwatched.contains($0.outputs[0]) }.map { ($0, Double.infinity) }
        effects.sort { $0.added != $1.added ? $0.added > $1.added : $0.node.outputs[0] < $1.node.outputs[0] }

        // The fewest of the most harmful to keep: bisect k (every node in float32 meets any tolerance).
        func options(keeping k: Int) -> ConversionOptions {
            var o = start
            for e in effects.prefix(k) {
                o.keptNodes[e.node.outputs[0]] = "mixed precision: in float16 it adds relative L2 \(NumberText.scientific(e.added)) to its inputs' error"
            }
            return o
        }
        var low = 0, high = effects.count, best = (k: effects.count, error: 0.0)
        while low < high {
            let k = (low + high) / 2
            let result = try check(try convert(options(keeping: k)), outputs: outputs)
            if result.passes { best = (k, result.error); high = k } else { low = k + 1 }
        }
        outcome.errorAfter = best.error
        outcome.keptNodes = effects.prefix(best.k).map { Effect(node: $0.node.name.isEmpty ? $0.node.outputs[0] : $0.node.name, opType: $0.node.opType, addedRelativeL2: $0.added) }
        return options(keeping: best.k)
    }

    /// The float32 and float16 models run with `values` exposed as outputs. Exposing a value can
    /// stop the runtime's own rewrites around it (the Transposes about a cubic Resize): the values
    /// around a node it then refuses are left unwatched, and the runs repeat.
    mutating func runExposing(_ prepared: Model, _ converted: Model, _ values: Set<String>) throws -> ([[String: Tensor]], [[String: Tensor]], Set<String>) {
        var watched = values
        while true {
            do {
                let expected = try run(Self.exposing(prepared, watched), name: "float32 reference with intermediates")
                return (expected, try run(Self.exposing(converted, watched), name: "float16 with intermediates"), watched)
            } catch {
                guard let (_, near) = ActivationStatistics.unexposing(after: error, on: runtime, graph: prepared.graph, exposed: watched) else { throw error }
                watched.subtract(near)
            }
        }
    }

    /// A copy of `model` whose main graph also outputs `values` (with their inferred types).
    static func exposing(_ model: Model, _ values: Set<String>) -> Model {
        let copy = Model(proto: model.message())
        let types = TypeInference(copy).types(in: copy.graph)
        var declared = Set(copy.graph.outputs.map(\.name))
        for node in copy.graph.nodes where node.subgraphs.isEmpty {
            for output in node.outputs where values.contains(output) && !declared.contains(output) {
                guard let type = types[output] else { continue }
                copy.graph.outputs.append(ValueInfo(name: output, elementType: type, shape: nil))
                declared.insert(output)
            }
        }
        return copy
    }
}
