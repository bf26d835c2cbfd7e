import ONNX
import Tensors

/// Resize and Upsample, nearest-neighbour by whole factors of H and W (what detector necks export).
extension OperatorTable {
    static let resizing = [
        OperatorEntry("Resize", "Upsample", check: { node, _ in
            unsupportedResizeMode(node) == nil ? .supported : .unsupported("only nearest resizing")
        }, lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerResize(node) }),
    ]

    /// Resize's rule: nearest-neighbour only. The mode refused, or nil for nearest.
    static func unsupportedResizeMode(_ node: Node) -> String? {
        let mode = node[attribute: "mode"]?.string ?? "nearest"
        return mode == "nearest" ? nil : mode
    }
}

extension GraphLowering {
    /// Resize and Upsample in nearest mode by whole scales (what detector necks export).
    mutating func lowerResize(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        if let mode = OperatorTable.unsupportedResizeMode(node) { throw .refusing(node, "mode \(mode) (only nearest is supported)") }
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
