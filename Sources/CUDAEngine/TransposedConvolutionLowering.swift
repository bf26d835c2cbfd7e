import CUDA
import ONNX
import Tensors

/// ConvTranspose (decoders' learned upsampling: PP-OCRv4's detector) as cuDNN's backward-data pass
/// of the forward convolution it inverts; the bias follows in the epilogue kernel.
extension OperatorTable {
    static let transposedConvolution = [
        OperatorEntry("ConvTranspose", lower: { (lowering, node, _) throws(EngineError) in try lowering.lowerConvTranspose(node) }),
    ]
}

extension GraphLowering {
    mutating func lowerConvTranspose(_ node: Node) throws(EngineError) {
        let name = Self.name(node)
        let (w, bias) = try layerWeights(node)
        let x = try nhwc(try tensor(node.inputs[0], for: node), nodes: [name])
        let t = plan.tensors[x]
        guard t.shape.count == 4, w.shape.count == 4 else { throw .refusing(node, "only 2-D transposed convolutions are supported") }
        let groups = node[attribute: "group"]?.int ?? 1
        let (n, cin, h, wd) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let (wc, perGroup, r, s) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard wc == cin, cin % groups == 0 else { throw .refusing(node, "weights \(w.shape) do not fit \(cin) input channels in \(groups) groups") }
        let cout = perGroup * groups
        let strides = node[attribute: "strides"]?.ints ?? [1, 1], dilations = node[attribute: "dilations"]?.ints ?? [1, 1]
        let pads = node[attribute: "pads"]?.ints ?? [0, 0, 0, 0], extra = node[attribute: "output_padding"]?.ints ?? [0, 0]
        guard (node[attribute: "auto_pad"]?.string ?? "NOTSET") == "NOTSET" else { throw .refusing(node, "auto_pad") }
        guard pads.count == 4, pads[0] == pads[2], pads[1] == pads[3] else { throw .refusing(node, "asymmetric padding \(pads)") }
        // cuDNN takes the output size from the forward convolution, which rounds down: an output
        // padding below the stride is what that rounding allows.
        guard extra.count == 2, extra[0] < strides[0], extra[1] < strides[1] else { throw .refusing(node, "output padding \(extra) not below the strides \(strides)") }
        let outH = strides[0] * (h - 1) + extra[0] + (r - 1) * dilations[0] + 1 - 2 * pads[0]
        let outW = strides[1] * (wd - 1) + extra[1] + (s - 1) * dilations[1] + 1 - 2 * pads[1]
        if let given = node[attribute: "output_shape"]?.ints, given.suffix(2) != [outH, outW] { throw .refusing(node, "an explicit output_shape \(given)") }
        let geometry = ConvolutionGeometry(batch: n, channels: cout, height: outH, width: outW, filters: cin, kernel: (r, s), pads: (pads[0], pads[1]),
                                           strides: (strides[0], strides[1]), dilations: (dilations[0], dilations[1]), groups: groups)
        guard outH > 0, outW > 0, geometry.outputHeight == h, geometry.outputWidth == wd else { throw .refusing(node, "an output of \(outH)×\(outW) for input \(t.shape)") }
        // ONNX's [C_in, C_out/g, kh, kw] is the forward convolution's KCRS: reorder to KRSC.
        var filter = [Float](repeating: 0, count: cin * r * s * perGroup)
        for k in 0..<cin { for c in 0..<perGroup { for y in 0..<r { for xx in 0..<s {
            filter[((k * r + y) * s + xx) * perGroup + c] = w.values[((k * perGroup + c) * r + y) * s + xx]
        } } } }
        let b = bias?.values ?? [Float](repeating: 0, count: cout)
        guard b.count == cout else { throw .refusing(node, "a bias of \(b.count) values for \(cout) output channels") }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: [n, cout, outH, outW], layout: .nhwc))
        let f = plan.add(PlannedWeight(name: node.inputs[1], float16: filter))
        let bw = plan.add(PlannedWeight(name: node.inputs[1] + ":bias", float16: b))
        plan.append(.transposedConvolution(ConvolutionStep(geometry: geometry, activation: .identity, input: x, output: out, residual: nil, filter: f, bias: bw)),
                    nodes: [name])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }
}
