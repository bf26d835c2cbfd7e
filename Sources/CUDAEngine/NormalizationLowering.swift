import ONNX
import Tensors

/// Normalizations as generated kernels: Softmax and LogSoftmax along rows, LayerNormalization over
/// the last axis (one warp per row), LRN across channels.
extension OperatorTable {
    static let normalization = [
        OperatorEntry("Softmax", "LogSoftmax", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerSoftmax(node) }),
        OperatorEntry("LayerNormalization", check: { node, context in
            if let rank = context.inputShapes[0]?.count, !normalizesLastAxis(node, rank: rank) { return .unsupported("normalizing from an inner axis") }
            return .supported
        }, lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerLayerNorm(node) }),
        OperatorEntry("LRN", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerLRN(node) }),
    ]

    /// The first axis LayerNormalization normalizes, counted from the front.
    static func normalizationAxis(_ node: Node, rank: Int) -> Int {
        let axis = node[attribute: "axis"]?.int ?? -1
        return axis < 0 ? axis + rank : axis
    }

    /// LayerNormalization's rule: over the last axis only (the form encoders export).
    static func normalizesLastAxis(_ node: Node, rank: Int) -> Bool { normalizationAxis(node, rank: rank) == rank - 1 }
}

extension GraphLowering {
    /// Softmax and LogSoftmax, one thread per row.
    mutating func lowerSoftmax(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let x = try tensor(node.inputs[0], for: node)
        let t = plan.tensors[x]
        let rank = t.shape.count
        var axis = node[attribute: "axis"]?.int ?? (opset >= 13 ? -1 : 1)
        if axis < 0 { axis += rank }
        // Before opset 13 the axis splits the tensor in two and the softmax runs over all the
        // trailing axes: the same as over the last axis only when it is the last one.
        if opset < 13 && axis != rank - 1 && t.shape[(axis + 1)...].contains(where: { $0 != 1 }) {
            throw .refusing(node, "softmax over the trailing axes from \(axis) (opset \(opset) semantics)")
        }
        // Rows along the innermost stored axis: the last of row-major data, the channels of NHWC.
        let source: Int
        if t.layout == .nhwc && axis == 1 && !t.isPadded { source = x } else {
            guard axis == rank - 1 else { throw .refusing(node, "softmax over axis \(axis) of a \(rank)-D tensor (only the last axis is supported)") }
            source = try rowMajor(x, nodes: [name])
        }
        let s = plan.tensors[source]
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: s.shape, layout: s.layout))
        let length = s.shape[axis], rows = s.elementCount / length
        let function = functionName()
        plan.append(.generated(GeneratedStep(kind: node.opType.lowercased(), function: function,
                                             source: KernelSource.softmax(function: function, rows: rows, length: length, logarithm: node.opType == "LogSoftmax"),
                                             output: out, inputs: [source], weights: [], threads: rows)), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }

    /// LayerNormalization over the last axis (the form encoders export), scale and bias constant.
    mutating func lowerLayerNorm(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        guard node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty) else { throw .refusing(node, "the Mean and InvStdDev outputs") }
        let x = try rowMajor(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        let axis = OperatorTable.normalizationAxis(node, rank: t.shape.count)
        guard OperatorTable.normalizesLastAxis(node, rank: t.shape.count) else {
            throw .refusing(node, "normalizing from axis \(axis) of \(t.shape) (only the last axis is supported)")
        }
        let length = t.shape[axis], rows = t.elementCount / max(length, 1)
        guard let scale = try hostValue(node.inputs[1]), scale.numbers.count == length else { throw .refusing(node, "a scale that is not a constant of \(length) values") }
        var bias = [Float](repeating: 0, count: length)
        if node.inputs.count > 2, !node.inputs[2].isEmpty {
            guard let b = try hostValue(node.inputs[2]), b.numbers.count == length else { throw .refusing(node, "a bias that is not a constant of \(length) values") }
            bias = b.numbers.map(Float.init)
        }
        let s = plan.add(PlannedWeight(name: node.inputs[1], float32: scale.numbers.map(Float.init)))
        let b = plan.add(PlannedWeight(name: name + ":bias", float32: bias))
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: t.shape))
        let function = functionName()
        let source = KernelSource.layerNorm(function: function, rows: rows, length: length, epsilon: node[attribute: "epsilon"]?.float ?? 1e-5)
        plan.append(.generated(GeneratedStep(kind: "layer norm", function: function, source: source, output: out, inputs: [x], weights: [s, b],
                                             threads: rows * 32)), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }

    /// Local response normalization across a window of channels (AlexNet, GoogLeNet).
    mutating func lowerLRN(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        guard let size = node[attribute: "size"]?.int, size > 0 else { throw .refusing(node, "no size") }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: t.shape, layout: .nhwc))
        let function = functionName()
        let source = KernelSource.lrn(function: function, elements: t.elementCount, channels: t.shape[1], size: size,
                                      alpha: node[attribute: "alpha"]?.float ?? 1e-4, beta: node[attribute: "beta"]?.float ?? 0.75,
                                      bias: node[attribute: "bias"]?.float ?? 1)
        plan.append(.generated(GeneratedStep(kind: "LRN", function: function, source: source, output: out, inputs: [x], weights: [],
                                             threads: t.elementCount)), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }
}
