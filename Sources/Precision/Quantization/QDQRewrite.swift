import FoundationEssentials
import ONNX
import Tensors

/// Writes a `QuantizationPlan` into the graph in the QDQ format ONNX Runtime and TensorRT both run:
/// a QuantizeLinear → DequantizeLinear pair on every planned activation, weights stored in int8
/// behind a DequantizeLinear (per channel along the output-channel axis), biases in int32 at the
/// scale input × weight. The runtime fuses DequantizeLinear → layer → QuantizeLinear into its
/// integer kernels (QLinearConv, QLinearMatMul …); everything else stays float32.
public enum QDQRewrite {
    public struct Result: Sendable, Codable, Equatable {
        public var activationPairs = 0
        public var weightsQuantized = 0
        public var biasesQuantized = 0
        /// Bias values past int32 at their scale (clipped).
        public var biasValuesClipped = 0
        public var relusFolded = 0
        /// HardSigmoid/HardSwish nodes written as int8 Adds (see `HardActivation`).
        public var hardActivations = 0
        /// Weight channels whose scale was raised so their bias fits int32.
        public var scalesRaisedForBias = 0
        public var weightBytesBefore = 0
        public var weightBytesAfter = 0
    }

    /// Rewrites `model`'s main graph in place. Needs opset 13 for per-channel scales (see `OpsetUpgrade`).
    public static func apply(_ plan: QuantizationPlan, to model: Model, options: QuantizationOptions) throws -> Result {
        var owners: [String: Set<String>] = [:]
        return try apply(plan, to: model, options: options, owners: &owners)
    }

    /// The rewrite, also telling for every node it adds or computes in int8 (by name, as a runtime
    /// names a node it refuses) which of the plan's int8 nodes (by key) it belongs to: a refused
    /// node goes back to float with them. Unnamed int8 nodes get a name for that.
    static func apply(_ plan: QuantizationPlan, to model: Model, options: QuantizationOptions, owners: inout [String: Set<String>]) throws -> Result {
        let graph = model.graph
        var names = UniqueNames(model)
        let constants = ConstantValues(graph)
        var result = Result()
        var added: [Node] = []
        var initializers: [Initializer] = []

        // Which nodes compute in int8, and their keys, fixed before any renaming.
        let int8Nodes = Set(graph.nodes.filter(plan.runsInInt8).map(ObjectIdentifier.init))
        var keyOf: [ObjectIdentifier: String] = [:]
        for node in graph.nodes where int8Nodes.contains(ObjectIdentifier(node)) {
            let key = node.outputs[0]
            keyOf[ObjectIdentifier(node)] = key
            if node.name.isEmpty { node.name = names.make("\(node.opType)_\(key)") }
            owners[node.name, default: []].insert(key)
        }
        func own(_ node: Node, _ keys: [String]) { owners[node.name, default: []].formUnion(keys) }
        let layers = graph.nodes.filter { plan.quantizedLayers.contains($0.outputs.first ?? "") }
        // Each layer's input activation as the plan knows it (the pair below renames what it reads).
        let layerInputs = Dictionary(uniqueKeysWithValues: layers.map { (ObjectIdentifier($0), $0.inputs[0]) })

        // Folded ReLUs (and ReLU6 Clips) leave: the layer produces their output directly.
        if !plan.foldedRelus.isEmpty {
            let defUse = DefUse(graph)
            var gone = Set<ObjectIdentifier>()
            for (layerOutput, reluOutput) in plan.foldedRelus.sorted(by: { $0.key < $1.key }) {
                guard let layer = defUse.producer[layerOutput], let relu = defUse.producer[reluOutput] else { continue }
                layer.outputs[0] = reluOutput
                gone.insert(ObjectIdentifier(relu))
            }
            graph.nodes.removeAll { gone.contains(ObjectIdentifier($0)) }
            result.relusFolded = gone.count
        }

        func scalarParameters(_ base: String, _ p: QuantizationParameters) -> (scale: String, zero: String) {
            let scale = names.make(base + "_scale"), zero = names.make(base + "_zero_point")
            initializers.append(Initializer(name: scale, tensor: try! Tensor(shape: Shape([]), elements: [p.scale])))
            let zp = p.type == .uint8 ? try! Tensor(shape: Shape([]), elements: [UInt8(p.zeroPoint)]) : try! Tensor(shape: Shape([]), elements: [Int8(p.zeroPoint)])
            initializers.append(Initializer(name: zero, tensor: zp))
            return (scale, zero)
        }

        // Activations.
        let defUse = DefUse(graph)
        for (value, p) in plan.activations.sorted(by: { $0.key < $1.key }) {
            let (scale, zero) = scalarParameters(value, p)
            let quantized = names.make(value + "_quantized")
            // The int8 nodes on either side of the pair.
            let sides = ([defUse.producer[value]].compactMap { $0 } + defUse.consumers(of: value).map(\.node)).compactMap { keyOf[ObjectIdentifier($0)] }
            if let producer = defUse.producer[value], int8Nodes.contains(ObjectIdentifier(producer)) {
                // Produced in int8: the float result exists only between the layer and its Q.
                let raw = names.make(value + "_before_quantize")
                producer.outputs = producer.outputs.map { $0 == value ? raw : $0 }
                added.append(Node(opType: "QuantizeLinear", name: names.make(value + "_QuantizeLinear"), inputs: [raw, scale, zero], outputs: [quantized]))
                added.append(Node(opType: "DequantizeLinear", name: names.make(value + "_DequantizeLinear"), inputs: [quantized, scale, zero], outputs: [value]))
            } else {
                // Produced in float (or a model input): only the int8 consumers read the pair's output.
                let dequantized = names.make(value + "_dequantized")
                added.append(Node(opType: "QuantizeLinear", name: names.make(value + "_QuantizeLinear"), inputs: [value, scale, zero], outputs: [quantized]))
                added.append(Node(opType: "DequantizeLinear", name: names.make(value + "_DequantizeLinear"), inputs: [quantized, scale, zero], outputs: [dequantized]))
                // Every input: a layer's other inputs are constants, never planned activations.
                for use in defUse.consumers(of: value) where int8Nodes.contains(ObjectIdentifier(use.node)) {
                    use.node.inputs[use.input] = dequantized
                }
            }
            for node in added.suffix(2) { own(node, sides) }
            result.activationPairs += 1
        }

        // HardSigmoid and HardSwish on int8: the Add form, now that their pairs exist.
        for node in graph.nodes where int8Nodes.contains(ObjectIdentifier(node)) {
            guard let hard = HardActivation(node),
                  let quantize = added.first(where: { $0.opType == "QuantizeLinear" && $0.inputs[0] == node.outputs[0] }) else { continue }
            let lowered = try hard.lower(node, quantize: quantize, names: &names, initializers: &initializers)
            for made in lowered { own(made, [keyOf[ObjectIdentifier(node)]!]) }
            added += lowered
            result.hardActivations += 1
        }

        // Weights and biases.
        // Shared weights are quantized once per (axis, bias constraint).
        struct WeightKey: Hashable { var name: String; var axis: Int?; var floor: [Float] }
        var quantizedWeights: [WeightKey: (value: String, scales: [Float], dequantize: Node)] = [:]
        for layer in layers {
            let weight = layer.inputs[1]
            guard let (values, dims) = constants.float32(weight) else {
                throw PrecisionError.notConvertible("node '\(layer.label)': weight '\(weight)' is not a float32 constant (a HalfPipe bug: the plan should have kept it in float)")
            }
            let axis = options.perChannel ? channelAxis(of: layer, weightRank: dims.count) : nil
            // The bias must fit int32 at scale input × weight: a channel whose weight scale is too
            // small for its bias (tiny weights, a large bias) gets a larger weight scale instead of
            // a clipped bias, as ONNX Runtime's quantizer does.
            let bias = layer.inputs.count > 2 && !layer.inputs[2].isEmpty && layer.opType != "MatMul" ? constants.float32(layer.inputs[2]) : nil
            let inputScale = layerInputs[ObjectIdentifier(layer)].flatMap { plan.activations[$0]?.scale }
            var floor: [Float] = []
            if let bias, let inputScale, bias.dims.count == 1 {
                floor = bias.values.map { abs($0) / (inputScale * Float(1 << 30)) }
            }
            let key = WeightKey(name: weight, axis: axis, floor: floor)
            let (dequantizedWeight, weightScales, dequantize): (String, [Float], Node)
            if let done = quantizedWeights[key] {
                (dequantizedWeight, weightScales, dequantize) = done
            } else {
                let (q, scales) = WeightQuantization.quantize(values, dims: dims, axis: axis, minimumScales: floor, limit: options.weightLimit)
                result.scalesRaisedForBias += zip(scales, floor).filter { $0 == $1 && $1 > 0 }.count
                let stored = names.make(weight + "_quantized"), scale = names.make(weight + "_scale"), zero = names.make(weight + "_zero_point")
                let shape = try Shape(axis == nil ? [] : [scales.count])
                initializers.append(Initializer(name: stored, tensor: try Tensor(shape: Shape(dims), elements: q)))
                initializers.append(Initializer(name: scale, tensor: try Tensor(shape: shape, elements: scales)))
                initializers.append(Initializer(name: zero, tensor: try Tensor(shape: shape, elements: [Int8](repeating: 0, count: scales.count))))
                let out = names.make(weight + "_dequantized")
                let node = Node(opType: "DequantizeLinear", name: names.make(weight + "_DequantizeLinear"), inputs: [stored, scale, zero], outputs: [out],
                                attributes: axis.map { [.int("axis", $0)] } ?? [])
                added.append(node)
                quantizedWeights[key] = (out, scales, node)
                (dequantizedWeight, weightScales, dequantize) = (out, scales, node)
                result.weightsQuantized += 1
                result.weightBytesBefore += values.count * 4
                result.weightBytesAfter += values.count
            }
            layer.inputs[1] = dequantizedWeight
            own(dequantize, [keyOf[ObjectIdentifier(layer)]!])

            // Bias: int32 at input scale × weight scale (one per output channel).
            guard let (bias, biasDims) = bias, biasDims.count == 1,
                  weightScales.count == 1 || weightScales.count == bias.count,
                  let inputParameters = layerInputs[ObjectIdentifier(layer)].flatMap({ plan.activations[$0] }) else { continue }
            let (q, scales, clipped) = WeightQuantization.bias(bias, inputScale: inputParameters.scale, weightScales: weightScales)
            let name = layer.inputs[2]
            let stored = names.make(name + "_quantized"), scale = names.make(name + "_scale"), zero = names.make(name + "_zero_point")
            initializers.append(Initializer(name: stored, tensor: try Tensor(shape: Shape([q.count]), elements: q)))
            initializers.append(Initializer(name: scale, tensor: try Tensor(shape: Shape([q.count]), elements: scales)))
            initializers.append(Initializer(name: zero, tensor: try Tensor(shape: Shape([q.count]), elements: [Int32](repeating: 0, count: q.count))))
            let out = names.make(name + "_dequantized")
            added.append(Node(opType: "DequantizeLinear", name: names.make(name + "_DequantizeLinear"), inputs: [stored, scale, zero], outputs: [out],
                              attributes: [.int("axis", 0)]))
            layer.inputs[2] = out
            own(added[added.count - 1], [keyOf[ObjectIdentifier(layer)]!])
            result.biasesQuantized += 1
            result.biasValuesClipped += clipped
        }

        graph.nodes += added
        graph.initializers += initializers
        UnusedConstants.remove(from: graph)
        try TopologicalSort.sort(graph)
        return result
    }

    /// The weight axis of the output channels: Conv [Cout, Cin/g, k…] → 0; ConvTranspose
    /// [Cin, Cout/g, k…] → 1; Gemm B [K, N] (transB 0) → 1 or [N, K] → 0; MatMul [K, N] → 1.
    static func channelAxis(of layer: Node, weightRank: Int) -> Int? {
        switch layer.opType {
        case "Conv": return 0
        case "ConvTranspose": return (layer[attribute: "group"]?.int ?? 1) == 1 ? 1 : nil
        case "Gemm": return (layer[attribute: "transB"]?.int ?? 0) != 0 ? 0 : 1
        case "MatMul": return weightRank == 2 ? 1 : nil
        default: return nil
        }
    }
}
