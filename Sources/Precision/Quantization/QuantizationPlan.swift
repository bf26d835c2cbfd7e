import FoundationEssentials
import ONNX
import Tensors

/// Which nodes run in INT8 and the parameters of every activation that gets a
/// QuantizeLinear/DequantizeLinear pair, decided from the calibrated ranges. Every layer of a
/// quantizable type gets a decision with its reason, for the report.
public struct QuantizationPlan: Sendable {
    public struct Decision: Sendable, Codable, Equatable {
        public var node: String
        public var opType: String
        public var quantized: Bool
        /// Why it stays in float (nil when quantized).
        public var reason: String?
    }

    /// Keys (first output names) of the layers that run in INT8.
    public private(set) var quantizedLayers: Set<String> = []
    /// Data-movement nodes (Reshape, MaxPool …) that run on int8 between quantized layers: their
    /// output shares their input's parameters, so a runtime drops the pair around them.
    public private(set) var passThrough: Set<String> = []
    /// ReLUs folded into the range of the layer before them (asymmetric activations only): the
    /// layer's output → the ReLU's output, which the layer then produces.
    public private(set) var foldedRelus: [String: String] = [:]
    /// Elementwise and joining nodes (SiLU's Sigmoid and Mul, residual Adds, Concat …) between
    /// int8 nodes: they run on int8 too (QLinearSigmoid, QLinearMul …), which removes the
    /// conversions around them (keys: first outputs).
    public private(set) var int8Ops: Set<String> = []
    /// Parameters of each activation that gets a Q/DQ pair.
    public private(set) var activations: [String: QuantizationParameters] = [:]
    public private(set) var decisions: [Decision] = []
    /// Layer keys by the node label decisions carry.
    public internal(set) var keyOf: [String: String] = [:]
    /// Elementwise and data-movement nodes (keys) that stay in float whatever their neighbours:
    /// the backend refused them on int8.
    public private(set) var keptFloat: Set<String> = []
    let symmetric: Bool
    let int8OpTypes: Set<String>

    /// Ops that only move or select values: int8 in, the same int8 out.
    static let dataMovement: Set<String> = ["Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "MaxPool"]

    /// Plans `graph` (the main graph of a prepared float32 model) for `ranges`. `histograms` (by
    /// value) let the plan estimate each tensor's int8 error; without them every tensor passes.
    public init(graph: Graph, ranges: [String: TensorRange], histograms: [String: AbsHistogram] = [:], options: QuantizationOptions) {
        symmetric = options.symmetric
        // The clip of HardSigmoid/HardSwish in int8 is uint8's saturation at zero point 0.
        int8OpTypes = options.symmetric ? options.int8OpTypes.subtracting(HardActivation.opTypes) : options.int8OpTypes
        let defUse = DefUse(graph)
        let constants = ConstantValues(graph)
        let order = (try? TopologicalSort.order(graph).get()) ?? graph.nodes
        let candidates = order.filter { options.quantizedOpTypes.contains($0.opType) && $0.canonicalDomain == "ai.onnx" && !$0.outputs.isEmpty }
        let candidateKeys = Set(candidates.map { $0.outputs[0] })
        let outputLayers = Self.outputLayers(order: order, graph: graph, candidates: candidateKeys, depth: options.floatOutputLayers)

        var errors: [String: Double] = [:]
        func estimatedError(_ value: String) -> Double {
            if let e = errors[value] { return e }
            let range = ranges[value] ?? TensorRange(amax: 0)
            let step = options.symmetric ? Double(range.amax) / 127 : Double(range.max - Swift.min(range.min, 0)) / 255
            let e = histograms[value].map { Calibrator.relativeError($0, amax: Double(range.amax), step: step) } ?? 0
            errors[value] = e
            return e
        }

        var eligible: [Node] = []
        var verdicts: [String: Decision] = [:]
        for node in candidates {
            let key = node.outputs[0]
            let label = node.name.isEmpty ? key : node.name
            func keep(_ reason: String) { verdicts[key] = Decision(node: label, opType: node.opType, quantized: false, reason: reason) }
            if options.excludedOpTypes.contains(where: { $0.matches(node.opType) }) { keep("excluded by --exclude-op"); continue }
            if options.excludedNodeNames.contains(where: { $0.matches(node.name) || $0.matches(key) }) { keep("excluded by --exclude-node"); continue }
            guard node.inputs.count >= 2, constants.float32ElementCount(node.inputs[1]) != nil else {
                keep(node.opType == "MatMul" ? "both inputs are activations (attention-style MatMul)" : "its weights are computed at run time, not constants")
                continue
            }
            if node.opType == "Gemm" && (node[attribute: "transA"]?.int ?? 0) != 0 { keep("Gemm with transA"); continue }
            let input = node.inputs[0]
            guard ranges[input] != nil else { keep("no calibrated range for its input '\(input)'"); continue }
            guard ranges[key] != nil else { keep("no calibrated range for its output"); continue }
            if let level = outputLayers[key] {
                keep(level == 1 ? "output layer: its result reaches a model output through float ops only (--keep-output-layers 0 quantizes it)"
                                : "output layer \(level) from the end (--keep-output-layers \(level - 1) quantizes it)")
                continue
            }
            if let bad = [input, key].first(where: { estimatedError($0) > options.maxTensorError }) {
                keep("estimated int8 error: '\(bad)' would lose \(NumberText.fixed(100 * estimatedError(bad), 1)) % in int8 (estimated from its histogram; limit \(NumberText.fixed(100 * options.maxTensorError, 1)) %)")
                continue
            }
            eligible.append(node)
        }
        let selected = options.everyLayer ? Set(eligible.map { $0.outputs[0] }) : LayerCost.select(eligible, graph: graph, defUse: defUse, constants: constants, verdicts: &verdicts)
        for node in eligible where selected.contains(node.outputs[0]) {
            quantizedLayers.insert(node.outputs[0])
            verdicts[node.outputs[0]] = Decision(node: node.name.isEmpty ? node.outputs[0] : node.name, opType: node.opType, quantized: true, reason: nil)
        }
        decisions = candidates.compactMap { verdicts[$0.outputs[0]] }

        keyOf = Dictionary(candidates.map { ($0.name.isEmpty ? $0.outputs[0] : $0.name, $0.outputs[0]) }, uniquingKeysWith: { first, _ in first })
        assignActivations(graph: graph, ranges: ranges)
    }

    /// Each quantized layer's input and output get parameters; ReLUs fold (asymmetric); data
    /// movement between int8 values runs on int8.
    mutating func assignActivations(graph: Graph, ranges: [String: TensorRange]) {
        activations = [:]
        passThrough = []
        foldedRelus = [:]
        let defUse = DefUse(graph)
        let order = (try? TopologicalSort.order(graph).get()) ?? graph.nodes
        for node in order where quantizedLayers.contains(node.outputs.first ?? "") {
            for value in [node.inputs[0], node.outputs[0]] where activations[value] == nil {
                activations[value] = .activation(ranges[value]!, symmetric: symmetric)
            }
        }
        let constants = ConstantValues(graph)
        if !symmetric { foldRelus(order: order, defUse: defUse, graph: graph, ranges: ranges, constants: constants) }
        propagateThroughDataMovement(order: order, defUse: defUse)
        selectInt8Ops(order: order, defUse: defUse, ranges: ranges, constants: constants)
        propagateThroughDataMovement(order: order, defUse: defUse)
    }

    /// The elementwise nodes whose every input comes from an int8 node and whose output feeds
    /// one: all candidates start in, and those that break the rule leave until none does (a SiLU,
    /// Sigmoid and Mul reading each other, stays in as a pair).
    mutating func selectInt8Ops(order: [Node], defUse: DefUse, ranges: [String: TensorRange], constants: ConstantValues) {
        int8Ops = []
        guard !int8OpTypes.isEmpty else { return }
        let reluOf = Dictionary(foldedRelus.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        var tentative = Set(order.filter { node in
            guard int8OpTypes.contains(node.opType), node.canonicalDomain == "ai.onnx", node.outputs.count == 1, ranges[node.outputs[0]] != nil,
                  !keptFloat.contains(node.outputs[0]) else { return false }
            let inputs = node.inputs.filter { !$0.isEmpty }
            if HardActivation.opTypes.contains(node.opType) && HardActivation(node) == nil { return false }
            return !inputs.isEmpty && inputs.allSatisfy { constants.float32ElementCount($0) == nil && ranges[$0] != nil }
        }.map { $0.outputs[0] })
        func int8(_ value: String) -> Bool {
            if reluOf[value] != nil { return true }
            guard let p = defUse.producer[value], let key = p.outputs.first else { return false }
            return quantizedLayers.contains(key) || passThrough.contains(key) || tentative.contains(key)
        }
        func feedsInt8(_ value: String) -> Bool {
            defUse.consumers(of: value).contains { use in
                let key = use.node.outputs.first ?? ""
                return (quantizedLayers.contains(key) && use.input == 0) || tentative.contains(key) || passThrough.contains(key)
            }
        }
        var changed = true
        while changed {
            changed = false
            for node in order where tentative.contains(node.outputs.first ?? "") {
                if !node.inputs.filter({ !$0.isEmpty }).allSatisfy(int8) || !feedsInt8(node.outputs[0]) {
                    tentative.remove(node.outputs[0])
                    changed = true
                }
            }
        }
        int8Ops = tentative
        for node in order where int8Ops.contains(node.outputs.first ?? "") {
            for value in node.inputs.filter({ !$0.isEmpty }) + [node.outputs[0]] where activations[value] == nil {
                activations[value] = .activation(ranges[value]!, symmetric: symmetric)
            }
            // A HardSigmoid's output is [0, 1] by construction: 255 steps of 1/255, so that the
            // uint8 saturation at 255 is its clip at 1 (see `HardActivation`).
            if node.opType == "HardSigmoid" { activations[node.outputs[0]] = HardActivation.unitRange }
        }
    }

    /// The same plan with only `layers` (a subset of its layers) in int8: activations, pass-through
    /// nodes and folded ReLUs recomputed for them on `graph` (a fresh copy of the planned graph).
    func restricted(to layers: Set<String>, graph: Graph, ranges: [String: TensorRange],
                    reason: (String) -> String = { _ in "sent back to float by the accuracy search" }) -> QuantizationPlan {
        var plan = self
        plan.quantizedLayers = quantizedLayers.intersection(layers)
        plan.decisions = decisions.map { d in
            var d = d
            if d.quantized && !plan.quantizedLayers.contains(keyOf[d.node] ?? d.node) { (d.quantized, d.reason) = (false, reason(d.node)) }
            return d
        }
        plan.assignActivations(graph: graph, ranges: ranges)
        return plan
    }

    /// The same plan with the int8 nodes `keys` (layers, or elementwise and data-movement nodes)
    /// back in float, each layer's decision giving `reason`; the pairs around them go.
    func sendingBack(_ keys: Set<String>, graph: Graph, ranges: [String: TensorRange], reason: String) -> QuantizationPlan {
        var plan = self
        plan.keptFloat.formUnion(keys.subtracting(quantizedLayers))
        return plan.restricted(to: quantizedLayers.subtracting(keys), graph: graph, ranges: ranges) { _ in reason }
    }

    /// The values a plan can put a Q/DQ pair on, so calibration measures only these: the inputs
    /// and outputs of the layers of quantizable types, the ReLUs after them, the inputs and outputs
    /// of the int8 op types, and the outputs of data-movement nodes on the way to any of those
    /// inputs. Each measured value is an extra output of the calibration run, which keeps the
    /// runtime from rewriting around it: a ViT's Transpose → cubic Resize, measured, is a Resize
    /// ONNX Runtime refuses (the Transposes no longer fold away).
    public static func calibratedValues(of graph: Graph, options: QuantizationOptions) -> Set<String> {
        var values = Set<String>()
        var int8Inputs = Set<String>()
        let defUse = DefUse(graph)
        let nodes = graph.nodes.filter { $0.canonicalDomain == "ai.onnx" && !$0.outputs.isEmpty }
        for node in nodes {
            if options.quantizedOpTypes.contains(node.opType), let input = node.inputs.first {
                int8Inputs.insert(input)
                values.insert(node.outputs[0])
                for use in defUse.consumers(of: node.outputs[0]) where ["Relu", "Clip"].contains(use.node.opType) { values.formUnion(use.node.outputs) }
            } else if options.int8OpTypes.contains(node.opType) {
                int8Inputs.formUnion(node.inputs.filter { !$0.isEmpty })
                values.insert(node.outputs[0])
            }
        }
        values.formUnion(int8Inputs)
        // Backwards from the int8 inputs through chains of data movement.
        var wanted = int8Inputs
        var changed = true
        while changed {
            changed = false
            for node in nodes where dataMovement.contains(node.opType) && !node.inputs.isEmpty && wanted.contains(node.outputs[0]) && !wanted.contains(node.inputs[0]) {
                wanted.insert(node.inputs[0])
                values.insert(node.inputs[0])
                changed = true
            }
        }
        return values
    }

    /// The last `depth` layers on the paths to the model's outputs, with their level (1: the layer
    /// whose result reaches an output through float ops only; 2: the layer before that …).
    static func outputLayers(order: [Node], graph: Graph, candidates: Set<String>, depth: Int) -> [String: Int] {
        var levels: [String: Int] = [:]
        var reaches = Set(graph.outputs.map(\.name))
        for level in 1...max(1, depth) where depth > 0 {
            // Backwards through everything but the candidate layers not yet taken.
            for node in order.reversed() {
                if let key = node.outputs.first, candidates.contains(key), levels[key] == nil { continue }
                if node.outputs.contains(where: reaches.contains) { reaches.formUnion(node.inputs.filter { !$0.isEmpty }) }
            }
            for key in candidates where levels[key] == nil && reaches.contains(key) { levels[key] = level }
        }
        return levels
    }

    /// With asymmetric activations, a quantized layer followed by a ReLU, or a Clip from 0 (ReLU6),
    /// as its only consumer takes that activation's range [0, max]: the quantizer's own clamp at
    /// the ends of the range is then the activation, which goes.
    mutating func foldRelus(order: [Node], defUse: DefUse, graph: Graph, ranges: [String: TensorRange], constants: ConstantValues) {
        let outputs = Set(graph.outputs.map(\.name))
        for node in order where quantizedLayers.contains(node.outputs.first ?? "") {
            let uses = defUse.consumers(of: node.outputs[0])
            guard uses.count == 1, !outputs.contains(node.outputs[0]), let after = uses[0].node.outputs.first, let range = ranges[after],
                  let upper = Self.clampedFromZero(uses[0].node, constants: constants) else { continue }
            // The activation's output takes over: it is what the layer's consumers will read.
            activations[node.outputs[0]] = nil
            activations[after] = .activation(TensorRange(min: 0, max: Swift.min(range.max, upper)), symmetric: false)
            foldedRelus[node.outputs[0]] = after
        }
    }

    /// The upper bound of a ReLU (infinity) or of a Clip whose lower bound is exactly 0; nil for
    /// anything else.
    static func clampedFromZero(_ node: Node, constants: ConstantValues) -> Float? {
        guard node.canonicalDomain == "ai.onnx" else { return nil }
        if node.opType == "Relu" { return .infinity }
        guard node.opType == "Clip" else { return nil }
        func bound(_ index: Int, attribute: String) -> Float? {
            if node.inputs.count > index, !node.inputs[index].isEmpty { return constants.float32(node.inputs[index])?.values.first }
            return node[attribute: attribute]?.float
        }
        guard bound(1, attribute: "min") == 0 else { return nil }
        return bound(2, attribute: "max") ?? .infinity
    }

    /// A data-movement node between quantized activations runs on int8: its output takes its
    /// input's parameters (the values are the same ones), so the runtime drops the pair around it.
    /// Wanted outputs are found backwards (a chain of them may lead to a quantized layer), then
    /// the parameters flow forwards.
    mutating func propagateThroughDataMovement(order: [Node], defUse: DefUse) {
        let movers = order.filter {
            Self.dataMovement.contains($0.opType) && $0.canonicalDomain == "ai.onnx" && !$0.outputs.isEmpty && !$0.inputs.isEmpty && !keptFloat.contains($0.outputs[0])
        }
        var wanted = Set(activations.keys)
        for node in movers.reversed() where wanted.contains(node.outputs[0]) { wanted.insert(node.inputs[0]) }
        for node in movers {
            guard wanted.contains(node.outputs[0]), let p = activations[node.inputs[0]] else { continue }
            activations[node.outputs[0]] = p
            passThrough.insert(node.outputs[0])
        }
    }

    /// Whether `node` computes in int8 (its outputs are produced quantized).
    func runsInInt8(_ node: Node) -> Bool {
        guard let key = node.outputs.first else { return false }
        return quantizedLayers.contains(key) || passThrough.contains(key) || int8Ops.contains(key)
    }

    public var quantizedCount: Int { quantizedLayers.count }
}
