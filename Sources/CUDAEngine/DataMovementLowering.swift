import ONNX
import Tensors

/// Views (Flatten, Reshape, Squeeze, Unsqueeze: the input's bytes read with another shape) and data
/// movement as strided copies (Transpose, Concat, Slice, Split). No checks: what refuses one (a
/// shape or a slice computed at run time) is known only once planned.
extension OperatorTable {
    static let dataMovement = [
        OperatorEntry("Flatten", "Reshape", "Squeeze", "Unsqueeze", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerView(node) }),
        OperatorEntry("Transpose", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerTranspose(node) }),
        OperatorEntry("Concat", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerConcat(node) }),
        OperatorEntry("Slice", "Split", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerSlices(node) }),
    ]
}

extension GraphLowering {
    /// A view: the input's bytes, in row-major order, read with the output's shape.
    mutating func lowerView(_ node: Node) throws(EngineError) {
        let x = try tensor(node.inputs[0], for: node)
        let shape = try viewShape(node, plan.tensors[x].shape)
        device[node.outputs[0]] = try view(x, as: shape, name: node.outputs[0], nodes: [Self.name(node)])
        placed([node], "view")
    }

    /// The output shape of a view op.
    mutating func viewShape(_ node: Node, _ shape: [Int]) throws(EngineError) -> [Int] {
        switch node.opType {
        case "Flatten": return ShapeRules.flatten(shape, axis: node[attribute: "axis"]?.int ?? 1)
        case "Reshape":
            guard let target = try hostValue(node.inputs[1]) else {
                throw .refusing(node, "a shape computed on the device")
            }
            return try ShapeRules.reshape(shape, to: target.ints, allowZero: node[attribute: "allowzero"]?.int == 1, node: node)
        case "Squeeze", "Unsqueeze":
            let given = HostFolding.Value(shape: shape, numbers: [], dtype: .float32)
            var axesValue: HostFolding.Value?
            if node.inputs.count > 1, !node.inputs[1].isEmpty { axesValue = try hostValue(node.inputs[1]) }
            guard let out = try HostFolding.evaluate(node, inputs: [given, axesValue], shapeOf: { _ in nil })?.first else {
                throw .refusing(node, "axes computed at run time")
            }
            return out.shape
        default: return shape
        }
    }

    mutating func lowerTranspose(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let x = try tensor(node.inputs[0], for: node)
        let t = plan.tensors[x]
        let perm = node[attribute: "perm"]?.ints ?? Array((0..<t.shape.count).reversed())
        let shape = perm.map { t.shape[$0] }
        if t.layout == .nhwc && !t.isPadded && perm == [0, 2, 3, 1] {
            // NCHW → NHWC of NHWC storage: the bytes are already in that order.
            device[node.outputs[0]] = plan.add(PlannedTensor(name: node.outputs[0], shape: shape, aliasOf: x))
            placed([node], "view")
            return
        }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: shape))
        let function = functionName()
        let strides = t.strides
        let kernel = KernelSource.copyKernel(function: function, shape: shape, outStrides: plan.tensors[out].strides, outHalf: true,
                                             sourceStrides: perm.map { strides[$0] }, sourceHalf: true)
        plan.append(.generated(GeneratedStep(kind: "transpose", function: function, source: kernel.source,
                                             output: out, inputs: [x], weights: [], threads: kernel.threads)), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }

    mutating func lowerConcat(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        var parts: [Int] = []
        for input in node.inputs where !input.isEmpty { parts.append(try tensor(input, for: node)) }
        let first = plan.tensors[parts[0]]
        let rank = first.shape.count
        var axis = node[attribute: "axis"]?.int ?? 1
        if axis < 0 { axis += rank }
        var shape = first.shape
        shape[axis] = parts.reduce(0) { $0 + plan.tensors[$1].shape[axis] }
        for p in parts {
            let s = plan.tensors[p].shape
            guard s.count == rank, (0..<rank).allSatisfy({ $0 == axis || s[$0] == shape[$0] }) else {
                throw EngineError.badInput("\(node.label): input shapes \(parts.map { plan.tensors[$0].shape }) do not concatenate on axis \(axis)")
            }
        }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: shape, layout: rank == 4 ? .nhwc : .rowMajor))
        let outStrides = plan.tensors[out].strides
        var at = 0
        for p in parts {
            let t = plan.tensors[p]
            let function = functionName()
            let kernel = KernelSource.copyKernel(function: function, shape: t.shape, outStrides: outStrides, outBase: at * outStrides[axis],
                                                 outHalf: true, sourceStrides: t.strides, sourceHalf: true)
            plan.append(.generated(GeneratedStep(kind: "concat part", function: function, source: kernel.source,
                                                 output: out, inputs: [p], weights: [], threads: kernel.threads)), nodes: [name])
            at += t.shape[axis]
        }
        placed([node], "steps \(plan.steps.count - parts.count)…\(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }

    /// Slice (constant starts, ends, axes, steps) and Split: strided copies out of the input.
    mutating func lowerSlices(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let x = try tensor(node.inputs[0], for: node)
        let t = plan.tensors[x]
        let rank = t.shape.count
        func constant(_ slot: Int, _ attribute: String) throws(EngineError) -> [Int]? {
            if slot < node.inputs.count, !node.inputs[slot].isEmpty {
                guard let v = try hostValue(node.inputs[slot]) else { throw .refusing(node, "\(attribute) computed at run time") }
                return v.ints
            }
            return node[attribute: attribute].map(\.ints)
        }
        // Each output: (starts, steps, shape) over every axis.
        var pieces: [(start: [Int], step: [Int], shape: [Int])] = []
        if node.opType == "Slice" {
            let starts = try constant(1, "starts") ?? [], ends = try constant(2, "ends") ?? []
            let axes = try constant(3, "axes") ?? Array(0..<starts.count), steps = try constant(4, "steps") ?? [Int](repeating: 1, count: starts.count)
            var start = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank), shape = t.shape
            for (k, a0) in axes.enumerated() {
                let a = a0 < 0 ? a0 + rank : a0, n = t.shape[a], st = steps[k]
                guard st != 0 else { throw .refusing(node, "step 0") }
                (start[a], shape[a]) = ShapeRules.slice(n: n, start: starts[k], end: ends[k], step: st)
                step[a] = st
            }
            pieces.append((start, step, shape))
        } else {
            var axis = node[attribute: "axis"]?.int ?? 0
            if axis < 0 { axis += rank }
            var sizes = try constant(1, "split") ?? []
            if sizes.isEmpty {
                let n = node.outputs.count, total = t.shape[axis], each = (total + n - 1) / n
                sizes = (0..<n).map { min(each, total - $0 * each) }
            }
            var at = 0
            for size in sizes {
                var start = [Int](repeating: 0, count: rank), shape = t.shape
                start[axis] = at; shape[axis] = size; at += size
                pieces.append((start, [Int](repeating: 1, count: rank), shape))
            }
        }
        let strides = t.strides
        for (output, piece) in zip(node.outputs, pieces) where !output.isEmpty {
            let out = plan.add(PlannedTensor(name: output, shape: piece.shape, layout: rank == 4 && t.layout == .nhwc ? .nhwc : .rowMajor))
            let function = functionName()
            let base = zip(piece.start, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let kernel = KernelSource.copyKernel(function: function, shape: piece.shape, outStrides: plan.tensors[out].strides, outHalf: true,
                                                 sourceStrides: zip(strides, piece.step).map { $0 * $1 }, sourceBase: base, sourceHalf: true)
            plan.append(.generated(GeneratedStep(kind: "slice", function: function, source: kernel.source,
                                                 output: out, inputs: [x], weights: [], threads: max(kernel.threads, 1))), nodes: [name])
            device[output] = out
        }
        placed([node], "step \(plan.steps.count - 1)")
    }
}
