import CUDA
import ONNX
import Tensors

/// Conv, Gemm and MatMul with constant weights become one cuDNN convolution each (a Gemm is a 1×1
/// convolution over N images of K channels), with the bias, a residual Add and ReLU/Clip fused
/// when the pattern allows; otherwise the Add and the activation follow as a generated kernel.
extension OperatorTable {
    static let layers = [
        OperatorEntry("Conv", check: { node, context in
            if let w = context.inputShapes[1], !convolvesTwoDimensions(weightRank: w.count) { return .unsupported("only 2-D convolutions") }
            // A context may leave large constants out: weights it does not show are for a run to decide.
            if context.constantInputs[1] == nil { return .decidedAtRun("weights must be constant") }
            return .supported
        }, lower: lowerLayer),
        OperatorEntry("Gemm", "MatMul", check: { node, context in
            // A computed right operand is a cuBLASLt product (MatMul); Gemm needs constant weights.
            if node.opType == "Gemm", context.constantInputs[1] == nil { return .unsupported("a right operand computed at run time") }
            if node.opType == "Gemm", transposesA(node) { return .unsupported("transposed A") }
            return .supported
        }, lower: lowerLayer),
    ]

    /// A layer on its own; `GraphLowering.run` emits the fused patterns (layer, Add, activation).
    private static let lowerLayer: OperatorEntry.Lowering = { (lowering, _, index) throws(EngineError) in
        try lowering.emitLayer(index, add: nil, activation: nil)
    }

    /// Conv's rule: 2-D convolutions only, whose weights are [K, C/groups, R, S].
    static func convolvesTwoDimensions(weightRank: Int) -> Bool { weightRank == 4 }

    /// Gemm's rule: A is taken as it is stored (rows × K), never transposed.
    static func transposesA(_ node: Node) -> Bool { (node[attribute: "transA"]?.int ?? 0) != 0 }
}

extension GraphLowering {
    /// The ops lowered as layers, whose Add and activation `findPatterns` fuses.
    static let layerOps = Set(OperatorTable.layers.flatMap(\.opTypes))

    mutating func emitLayer(_ layerIndex: Int, add: Int?, activation: Int?) throws(EngineError) {
        let layer = graph.nodes[layerIndex]
        let addNode = add.map { graph.nodes[$0] }, activationNode = activation.map { graph.nodes[$0] }
        if hasComputedRightOperand(layer) {
            // Two computed operands: cuBLASLt, then the Add and activation as ordinary nodes.
            try lowerComputedProduct(layer, names: [Self.name(layer)])
            for k in [add, activation].compactMap({ $0 }) { try lowerNode(k) }
            return
        }
        let fusedActivation = try activationNode.flatMap { (node) throws(EngineError) in try convolutionActivation(node) }
        let input = try tensor(layer.inputs[0], for: layer)
        let names = [layer, addNode, activationNode].compactMap { $0 }.map(Self.name)
        var lowered = layer.opType == "Conv" ? try convolution(layer, input: input, names: names) : try matrixProduct(layer, input: input, names: names)
        let layout: StorageLayout = lowered.shape.count == 4 ? .nhwc : .rowMajor
        // The Add's other operand: computed data stored exactly like the output is the residual; a
        // constant with one value per output channel goes into the bias (MatMul + Add exports).
        var residual: Int?
        var addFused = false
        if let a = addNode {
            let other = a.inputs[0] == layer.outputs[0] ? a.inputs[1] : a.inputs[0]
            if let r = device[other] {
                let t = plan.tensors[r]
                if t.shape == lowered.shape, !t.isPadded, layout == .nhwc ? t.layout == .nhwc : t.isRowMajorOrder { residual = r; addFused = true }
            } else if let c = try hostValue(other), c.numbers.count == lowered.geometry.filters, c.shape.count <= lowered.shape.count,
                      ShapeRules.broadcast([lowered.shape, c.shape]) == lowered.shape,
                      c.shape.enumerated().allSatisfy({ $0.element == 1 || $0.offset == c.shape.count - lowered.shape.count + (layout == .nhwc ? 1 : lowered.shape.count - 1) }) {
                for k in lowered.bias.indices { lowered.bias[k] += Float(c.numbers[k]) }
                addFused = true
            }
        }
        var fused = [layer]
        var leftovers: [Node] = []
        var act = ConvolutionActivation.identity
        if let a = addNode {
            if addFused { fused.append(a) } else { leftovers.append(a) }
        }
        if let a = activationNode {
            if let f = fusedActivation, addNode == nil || addFused { act = f; fused.append(a) } else { leftovers.append(a) }
        }
        let outputName = fused.last!.outputs[0]
        let out = plan.add(PlannedTensor(name: outputName, shape: lowered.shape, layout: layout))
        let filter = plan.add(PlannedWeight(name: layer.inputs[1], float16: lowered.filter))
        let bias = plan.add(PlannedWeight(name: layer.inputs[1] + ":bias", float16: lowered.bias))
        plan.append(.convolution(ConvolutionStep(geometry: lowered.geometry, activation: act, input: lowered.input, output: out, residual: residual,
                                                 filter: filter, bias: bias)), nodes: fused.map(Self.name))
        placed(fused, "step \(plan.steps.count - 1)")
        device[outputName] = out
        // What the fused call could not take runs as ordinary nodes after it.
        for node in leftovers {
            guard let i = graph.nodes.firstIndex(where: { $0 === node }) else { continue }
            try lowerNode(i)
        }
    }

    /// The activation cuDNN fuses for a Relu or a Clip(0, c) node; nil for any other Clip.
    mutating func convolutionActivation(_ node: Node) throws(EngineError) -> ConvolutionActivation? {
        if node.opType == "Relu" { return .relu }
        let (low, high) = try clipBounds(node)
        guard low == 0, let high, high.isFinite, high > 0 else { return nil }
        return .clippedRelu(Double(high))
    }

    /// A Clip's bounds: attributes before opset 11, constant inputs after; nil where unbounded.
    mutating func clipBounds(_ node: Node) throws(EngineError) -> (Float?, Float?) {
        if node.inputs.count <= 1 && node[attribute: "min"] == nil && node[attribute: "max"] == nil { return (nil, nil) }
        func bound(_ slot: Int, _ attribute: String) throws(EngineError) -> Float? {
            if let a = node[attribute: attribute]?.float { return a }
            guard slot < node.inputs.count, !node.inputs[slot].isEmpty else { return nil }
            guard let v = try hostValue(node.inputs[slot]), v.numbers.count == 1 else {
                throw .refusing(node, "bounds computed at run time")
            }
            return Float(v.numbers[0])
        }
        return (try bound(1, "min"), try bound(2, "max"))
    }

    /// A layer as a convolution: its geometry, the tensor it reads, FP16-bound filter and bias, the output shape.
    struct LoweredLayer {
        var geometry: ConvolutionGeometry
        var input: Int
        var filter: [Float]
        var bias: [Float]
        var shape: [Int]
    }

    /// A constant weight as FP32 values with its shape.
    struct ConstantWeight {
        let shape: [Int]
        let values: [Float]
    }

    /// A constant's FP32 values: straight from its initializer, or from a value folded on the host.
    /// Not through `hostValue`: as float64 numbers ResNet-50's 25 M weights cost most of planning
    /// (allocation and page faults), and a weight is read once.
    mutating func constantWeight(_ name: String) throws(EngineError) -> ConstantWeight? {
        if let v = host[name] { return ConstantWeight(shape: v.shape, values: v.numbers.map(Float.init)) }
        guard let initializer = initializers[name] else { return nil }
        do {
            let tensor = try initializer.tensor()
            return ConstantWeight(shape: tensor.shape.dimensions, values: try tensor.floatValues())
        } catch {
            throw EngineError.badInput("weight '\(name)': \(error)")
        }
    }

    /// The layer's constant weights and bias.
    mutating func layerWeights(_ node: Node) throws(EngineError) -> (ConstantWeight, ConstantWeight?) {
        guard node.inputs.count > 1, let w = try constantWeight(node.inputs[1]) else {
            throw .refusing(node, "weights computed at run time (only constant weights are supported)")
        }
        guard node.inputs.count > 2, !node.inputs[2].isEmpty else { return (w, nil) }
        guard let b = try constantWeight(node.inputs[2]) else {
            throw .refusing(node, "a bias computed at run time")
        }
        return (w, b)
    }

    /// Conv: NHWC input, KRSC filters with the input's padded channels, symmetric padding.
    mutating func convolution(_ node: Node, input: Int, names: [String]) throws(EngineError) -> LoweredLayer {
        let (w, bias) = try layerWeights(node)
        guard plan.tensors[input].shape.count == 4, OperatorTable.convolvesTwoDimensions(weightRank: w.shape.count) else {
            throw .refusing(node, "only 2-D convolutions are supported")
        }
        let groups = node[attribute: "group"]?.int ?? 1
        let x = groups == 1 ? try nhwcOrPadded(input, names: names) : try nhwc(input, nodes: names)
        let t = plan.tensors[x]
        let (n, c, h, wd) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let (k, cg, r, s) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard cg * groups == c, k % groups == 0 else { throw .refusing(node, "weights \(w.shape) do not fit \(c) input channels in \(groups) groups") }
        let strides = node[attribute: "strides"]?.ints ?? [1, 1], dilations = node[attribute: "dilations"]?.ints ?? [1, 1]
        var pads = node[attribute: "pads"]?.ints ?? [0, 0, 0, 0]
        let autoPad = node[attribute: "auto_pad"]?.string ?? "NOTSET"
        if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            for (axis, size) in [h, wd].enumerated() {
                let out = (size + strides[axis] - 1) / strides[axis]
                let total = max((out - 1) * strides[axis] + (axis == 0 ? r - 1 : s - 1) * dilations[axis] + 1 - size, 0)
                let small = total / 2
                pads[axis] = autoPad == "SAME_UPPER" ? small : total - small
                pads[axis + 2] = total - pads[axis]
            }
        } else if autoPad == "VALID" {
            pads = [0, 0, 0, 0]
        }
        // cuDNN pads both sides alike: an extra pad at the end is fine when it changes no output.
        var symmetric = (pads[0], pads[1])
        for axis in 0..<2 where pads[axis] != pads[axis + 2] {
            let size = axis == 0 ? h : wd, kernel = (axis == 0 ? r : s) - 1
            let onnxOut = (size + pads[axis] + pads[axis + 2] - dilations[axis] * kernel - 1) / strides[axis] + 1
            let cudnnOut = (size + 2 * pads[axis] - dilations[axis] * kernel - 1) / strides[axis] + 1
            guard pads[axis] < pads[axis + 2], onnxOut == cudnnOut else { throw .refusing(node, "asymmetric padding \(pads)") }
            if axis == 0 { symmetric.0 = pads[0] } else { symmetric.1 = pads[1] }
        }
        let geometry = ConvolutionGeometry(batch: n, channels: t.storedChannels, height: h, width: wd, filters: k, kernel: (r, s), pads: symmetric,
                                           strides: (strides[0], strides[1]), dilations: (dilations[0], dilations[1]), groups: groups)
        guard geometry.outputHeight > 0, geometry.outputWidth > 0 else { throw .refusing(node, "an empty output for input \(t.shape)") }
        // OIHW → KRSC, each filter's channels padded with zeros to the stored count.
        let stored = groups == 1 ? t.storedChannels : cg
        var filter = [Float](repeating: 0, count: k * r * s * stored)
        for o in 0..<k { for i in 0..<cg { for y in 0..<r { for xx in 0..<s {
            filter[((o * r + y) * s + xx) * stored + i] = w.values[((o * cg + i) * r + y) * s + xx]
        } } } }
        let b = bias?.values ?? [Float](repeating: 0, count: k)
        guard b.count == k else { throw .refusing(node, "a bias of \(b.count) values for \(k) filters") }
        return LoweredLayer(geometry: geometry, input: x, filter: filter, bias: b, shape: [n, k, geometry.outputHeight, geometry.outputWidth])
    }

    /// NHWC, keeping a padded input as it is (its zero channels meet zero filter channels).
    mutating func nhwcOrPadded(_ t: Int, names: [String]) throws(EngineError) -> Int {
        let x = plan.tensors[t].layout == .nhwc ? t : try nhwc(t, nodes: names)
        let tensor = plan.tensors[x]
        // Tensor cores take channels in multiples of 8. An unpadded count in the middle of a
        // network (YOLOX's Focus concatenates 4 × 3 channels into 12) gets a padded copy: on an H200
        // that 12-channel 3×3 convolution took 1.03 ms at batch 64, a fifth of the whole model.
        guard tensor.layout == .nhwc, !tensor.isPadded, tensor.dtype == .float16, tensor.shape[1] % 8 != 0 else { return x }
        let padded = plan.add(PlannedTensor(name: tensor.name + ":pad8", shape: tensor.shape, layout: .nhwc, storedChannels: (tensor.shape[1] + 7) / 8 * 8))
        try copy(from: x, to: padded, kind: "pad channels", nodes: names)
        return padded
    }

    /// Gemm (no transposed A) and MatMul with a constant 2-D right operand, as a 1×1 convolution over
    /// the rows of A: rows × K times K × M.
    mutating func matrixProduct(_ node: Node, input: Int, names: [String]) throws(EngineError) -> LoweredLayer {
        let (b, bias) = try layerWeights(node)
        let a = try rowMajor(input, nodes: names)
        let shape = plan.tensors[a].shape
        guard b.shape.count == 2, shape.count >= 2 else { throw .refusing(node, "only a constant 2-D right operand is supported") }
        let isGemm = node.opType == "Gemm"
        if isGemm {
            guard !OperatorTable.transposesA(node), shape.count == 2 else { throw .refusing(node, "transposed or non-matrix A") }
        }
        let transB = isGemm && (node[attribute: "transB"]?.int ?? 0) == 1
        let (kb, m) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        let k = shape.last!
        guard kb == k else { throw .refusing(node, "A has \(k) columns, B \(kb) rows") }
        let alpha = isGemm ? Double(node[attribute: "alpha"]?.float ?? 1) : 1, beta = isGemm ? Double(node[attribute: "beta"]?.float ?? 1) : 1
        var filter = [Float](repeating: 0, count: m * k)
        let scale = Float(alpha)
        for o in 0..<m { for i in 0..<k { filter[o * k + i] = scale * (transB ? b.values[o * k + i] : b.values[i * m + o]) } }
        var biasValues = [Float](repeating: 0, count: m)
        if let bias {
            if bias.values.count == m { biasValues = bias.values.map { Float(beta) * $0 } } else if bias.values.count == 1 {
                biasValues = [Float](repeating: Float(beta) * bias.values[0], count: m)
            } else { throw .refusing(node, "a bias of shape \(bias.shape) (only per-column biases are supported)") }
        }
        let rows = shape.dropLast().reduce(1, *)
        let geometry = ConvolutionGeometry(batch: rows, channels: k, height: 1, width: 1, filters: m, kernel: (1, 1))
        return LoweredLayer(geometry: geometry, input: a, filter: filter, bias: biasValues, shape: Array(shape.dropLast()) + [m])
    }
}
