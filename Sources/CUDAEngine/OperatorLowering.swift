import ONNX
import Tensors

/// Every other op the engine runs: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity), data
/// movement as strided copies (Transpose, Concat, Slice, Split), pooling, Softmax and
/// nearest-neighbour Resize. Anything else is refused by name.
extension GraphLowering {
    mutating func lowerNode(_ index: Int) throws(EngineError) {
        let node = graph.nodes[index]
        guard node.canonicalDomain == "ai.onnx" else { throw .refusing(node, "domain \(node.canonicalDomain) has no kernels in the engine") }
        if ElementwiseLowering.isElementwise(node) { return try emitElementwise([index]) }
        if Self.layerOps.contains(node.opType) { return try emitLayer(index, add: nil, activation: nil) }
        let name = Self.name(node)
        switch node.opType {
        case "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout":
            let x = try tensor(node.inputs[0], for: node)
            let shape = try viewShape(node, plan.tensors[x].shape)
            device[node.outputs[0]] = try view(x, as: shape, name: node.outputs[0], nodes: [name])
            placed([node], "view")
        case "Transpose":
            try lowerTranspose(node, name: name)
        case "Concat":
            try lowerConcat(node, name: name)
        case "Slice", "Split":
            try lowerSlices(node, name: name)
        case "MaxPool", "AveragePool":
            try lowerPool(node, name: name)
        case "GlobalAveragePool", "ReduceMean":
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
        case "Softmax", "LogSoftmax":
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
        case "ConvTranspose":
            try lowerConvTranspose(node, name: name)
        case "LayerNormalization":
            try lowerLayerNorm(node, name: name)
        case "Resize", "Upsample":
            try lowerResize(node, name: name)
        case "LRN":
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
        default:
            throw .refusing(node, "no kernel for this op")
        }
    }

    mutating func reduceAxes(_ node: Node, rank: Int) throws(EngineError) -> [Int] {
        var axes = node[attribute: "axes"]?.ints ?? []
        if node.inputs.count > 1, !node.inputs[1].isEmpty {
            guard let v = try hostValue(node.inputs[1]) else { throw .refusing(node, "axes computed at run time") }
            axes = v.ints
        }
        return axes.map { $0 < 0 ? $0 + rank : $0 }
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

    mutating func lowerTranspose(_ node: Node, name: String) throws(EngineError) {
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

    mutating func lowerConcat(_ node: Node, name: String) throws(EngineError) {
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
    mutating func lowerSlices(_ node: Node, name: String) throws(EngineError) {
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

    mutating func lowerPool(_ node: Node, name: String) throws(EngineError) {
        guard node.outputs.count == 1 || node.outputs[1].isEmpty else { throw .refusing(node, "the Indices output") }
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        guard t.shape.count == 4, let kernel = node[attribute: "kernel_shape"]?.ints, kernel.count == 2 else { throw .refusing(node, "only 2-D pooling is supported") }
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

    /// Resize and Upsample in nearest mode by whole scales (what detector necks export).
    mutating func lowerResize(_ node: Node, name: String) throws(EngineError) {
        let mode = node[attribute: "mode"]?.string ?? "nearest"
        guard mode == "nearest" else { throw .refusing(node, "mode \(mode) (only nearest is supported)") }
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        guard t.shape.count == 4 else { throw .refusing(node, "a \(t.shape.count)-D input") }
        var shape = t.shape
        let scalesSlot = node.opType == "Upsample" ? 1 : 2
        if node.opType == "Resize", node.inputs.count > 3, !node.inputs[3].isEmpty, let sizes = try hostValue(node.inputs[3]), sizes.numbers.count == 4 {
            shape = sizes.ints
        } else if scalesSlot < node.inputs.count, let scales = try hostValue(node.inputs[scalesSlot]), scales.numbers.count == 4 {
            shape = zip(t.shape, scales.numbers).map { Int((Double($0) * $1).rounded(.down)) }
        } else if let scales = node[attribute: "scales"]?.floats, scales.count == 4 {
            shape = zip(t.shape, scales).map { Int((Double($0) * Double($1)).rounded(.down)) }
        } else {
            throw .refusing(node, "scales or sizes computed at run time")
        }
        guard shape[0] == t.shape[0], shape[1] == t.shape[1], shape[2] % t.shape[2] == 0, shape[3] % t.shape[3] == 0 else {
            throw .refusing(node, "resizing \(t.shape) to \(shape) (only whole upscaling factors of H and W are supported)")
        }
        let transform = node[attribute: "coordinate_transformation_mode"]?.string ?? "half_pixel"
        let rounding = node[attribute: "nearest_mode"]?.string ?? "round_prefer_floor"
        // With whole factors, asymmetric+floor and half_pixel+round_prefer_floor pick the same pixels.
        guard node.opType == "Upsample" || (transform == "asymmetric" && rounding == "floor") || (transform == "half_pixel" && rounding == "round_prefer_floor") else {
            throw .refusing(node, "coordinate mode \(transform) with \(rounding) rounding")
        }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: shape, layout: .nhwc))
        let function = functionName()
        plan.append(.generated(GeneratedStep(kind: "resize", function: function,
                                             source: KernelSource.resizeNearest(function: function, input: t, output: plan.tensors[out]),
                                             output: out, inputs: [x], weights: [], threads: shape.reduce(1, *))), nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }
}
