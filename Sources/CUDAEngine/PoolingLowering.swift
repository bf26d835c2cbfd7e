import ONNX
import Tensors

/// Pooling of NHWC data over H and W: MaxPool and AveragePool windows, and the global mean
/// (GlobalAveragePool, and ReduceMean over H and W).
extension OperatorTable {
    static let pooling = [
        OperatorEntry("MaxPool", "AveragePool", check: { node, _ in
            poolsTwoDimensions(node) ? .supported : .unsupported("only 2-D pooling")
        }, lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerPool(node) }),
        OperatorEntry("GlobalAveragePool", "ReduceMean", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerGlobalAverage(node) }),
    ]

    /// MaxPool's and AveragePool's rule: 2-D windows. A node without a kernel_shape passes here;
    /// the lowering, which needs the window, refuses it.
    static func poolsTwoDimensions(_ node: Node) -> Bool { (node[attribute: "kernel_shape"]?.ints.count ?? 2) == 2 }
}

extension GraphLowering {
    mutating func lowerPool(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        guard node.outputs.count == 1 || node.outputs[1].isEmpty else { throw .refusing(node, "the Indices output") }
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        guard t.shape.count == 4, OperatorTable.poolsTwoDimensions(node), let kernel = node[attribute: "kernel_shape"]?.ints else {
            throw .refusing(node, "only 2-D pooling is supported")
        }
        let strides = node[attribute: "strides"]?.ints ?? [1, 1], dilations = node[attribute: "dilations"]?.ints ?? [1, 1]
        var pads = node[attribute: "pads"]?.ints ?? [0, 0, 0, 0]
        let ceil = (node[attribute: "ceil_mode"]?.int ?? 0) == 1
        let autoPad = node[attribute: "auto_pad"]?.string ?? "NOTSET"
        var out = [t.shape[0], t.shape[1], 0, 0]
        for axis in 0..<2 {
            let size = t.shape[2 + axis], span = dilations[axis] * (kernel[axis] - 1) + 1
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                let o = (size + strides[axis] - 1) / strides[axis]
                let total = max((o - 1) * strides[axis] + span - size, 0)
                pads[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[axis + 2] = total - pads[axis]
                out[2 + axis] = o
            } else {
                if autoPad == "VALID" { pads = [0, 0, 0, 0] }
                let room = size + pads[axis] + pads[axis + 2] - span
                var o = (ceil ? (room + strides[axis] - 1) / strides[axis] : room / strides[axis]) + 1
                // A last window that would start in the end padding is dropped (ONNX, PyTorch).
                if ceil && (o - 1) * strides[axis] >= size + pads[axis] { o -= 1 }
                out[2 + axis] = o
            }
        }
        guard out[2] > 0, out[3] > 0 else { throw .refusing(node, "an empty output for input \(t.shape)") }
        let output = plan.add(PlannedTensor(name: node.outputs[0], shape: out, layout: .nhwc))
        let function = functionName()
        let isMax = node.opType == "MaxPool"
        let source = KernelSource.pool(function: function, input: t, output: plan.tensors[output], kernel: (kernel[0], kernel[1]), strides: (strides[0], strides[1]),
                                       pads: (pads[0], pads[1]), dilations: (dilations[0], dilations[1]), isMax: isMax,
                                       countIncludePad: (node[attribute: "count_include_pad"]?.int ?? 0) == 1)
        plan.append(.generated(GeneratedStep(kind: isMax ? "max pool" : "average pool", function: function, source: source, output: output, inputs: [x],
                                             weights: [], threads: out.reduce(1, *))), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = output
    }

    /// The mean over H and W, one thread per image and channel.
    mutating func lowerGlobalAverage(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let shape = plan.tensors[x].shape
        if node.opType == "ReduceMean" {
            let axes = try reduceAxes(node, rank: shape.count)
            guard shape.count == 4, Set(axes) == [2, 3], (node[attribute: "keepdims"]?.int ?? 1) == 1 else { throw .refusing(node, "only the mean over H and W is supported") }
        }
        guard shape.count == 4 else { throw .refusing(node, "a \(shape.count)-D input") }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: [shape[0], shape[1], 1, 1], layout: .nhwc))
        let function = functionName()
        plan.append(.generated(GeneratedStep(kind: "global average", function: function,
                                             source: KernelSource.globalAverage(function: function, input: plan.tensors[x], output: plan.tensors[out]),
                                             output: out, inputs: [x], weights: [], threads: shape[0] * shape[1])), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }

    mutating func reduceAxes(_ node: Node, rank: Int) throws(EngineError) -> [Int] {
        var axes = node[attribute: "axes"]?.ints ?? []
        if node.inputs.count > 1, !node.inputs[1].isEmpty {
            guard let v = try hostValue(node.inputs[1]) else { throw .refusing(node, "axes computed at run time") }
            axes = v.ints
        }
        return axes.map { $0 < 0 ? $0 + rank : $0 }
    }
}
