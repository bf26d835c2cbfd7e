import FoundationEssentials
import ONNX
import Tensors

/// Where INT8 pays on a CPU: the rule measured with ONNX Runtime 1.31's x86 kernels (u8s8, AVX-512
/// VNNI) on the real models of the test material. What decides is the reduction length
/// K = Cin/group · kh · kw of each output value, not the layer's size: an isolated layer between
/// float ops pays for its Q/DQ conversions only when K ≥ 128 (0.3–0.6× float32 from K ≈ 288, 0.75–0.95×
/// at K = 64–144, 2.7× for a 3-channel stem at K = 27); between other int8 layers K ≥ 64 is
/// enough; a depthwise convolution (K = kh · kw) only pays where both its producer and its consumer
/// are int8 already, since it then removes a boundary instead of adding two.
/// On an AVX2 CPU without VNNI int8 pays less (vpmaddubsw gives about twice float32's
/// multiply-adds, not four times): ORT's QLinearConv took 0.53× the float time on the YOLOX-style
/// detector's convolutions and 0.78× on PP-LCNet's small and depthwise ones, while float32 fuses
/// HardSwish into its convolutions for free. ORT's int8 elementwise kernels (QLinearSigmoid,
/// QLinearMul, QLinearAdd) run on one thread, so their share grows with the thread count.
public enum LayerCost {
    /// K from which a layer pays on its own, and next to an int8 neighbour.
    public static let alone = 128, besideInt8 = 64

    /// The reduction length of a layer with constant weights; nil when unknown.
    static func reductionLength(_ node: Node, constants: ConstantValues) -> Int? {
        guard node.inputs.count > 1, let dims = constants.dimensions(node.inputs[1]), !dims.isEmpty else { return nil }
        switch node.opType {
        case "Conv": return dims.dropFirst().reduce(1, *)  // [Cout, Cin/g, kh, kw]
        case "ConvTranspose":
            // [Cin, Cout/g, kh, kw]: each output sums Cin/g · (kh/stride) · (kw/stride) products.
            let group = node[attribute: "group"]?.int ?? 1
            let strides = node[attribute: "strides"]?.ints ?? []
            let kernel = zip(dims.dropFirst(2), strides + Array(repeating: 1, count: max(0, dims.count - 2 - strides.count))).reduce(1) { $0 * max(1, $1.0 / max(1, $1.1)) }
            return dims[0] / max(1, group) * kernel
        case "Gemm": return (node[attribute: "transB"]?.int ?? 0) != 0 ? dims.last : dims.first
        case "MatMul": return dims.count >= 2 ? dims[dims.count - 2] : dims[0]
        default: return nil
        }
    }

    static func isDepthwise(_ node: Node, constants: ConstantValues) -> Bool {
        guard node.opType == "Conv", let dims = constants.dimensions(node.inputs[1]), dims.count >= 2 else { return false }
        let group = node[attribute: "group"]?.int ?? 1
        return group > 1 && dims[1] == 1
    }

    /// The layers of `eligible` (keys: first outputs) worth running in int8; the others get a
    /// decision saying why not.
    static func select(_ eligible: [Node], graph: Graph, defUse: DefUse, constants: ConstantValues, verdicts: inout [String: QuantizationPlan.Decision]) -> Set<String> {
        let keys = Set(eligible.map { $0.outputs[0] })
        // Neighbours through what runs on int8 anyway (data movement) or folds away (ReLU, Clip).
        let transparent: Set<String> = QuantizationPlan.dataMovement.union(["Relu", "Clip", "Sigmoid", "Mul", "Add", "HardSigmoid", "HardSwish"])
        func producers(_ node: Node) -> [String] {
            var found: [String] = [], value = node.inputs[0]
            while let p = defUse.producer[value] {
                if keys.contains(p.outputs.first ?? "") { found.append(p.outputs[0]); break }
                guard transparent.contains(p.opType), let next = p.inputs.first else { break }
                value = next
            }
            return found
        }
        func consumers(_ node: Node) -> [String] {
            var found: [String] = [], frontier = [node.outputs[0]], seen = Set<String>()
            while let value = frontier.popLast() {
                guard seen.insert(value).inserted else { continue }
                for use in defUse.consumers(of: value) {
                    if keys.contains(use.node.outputs.first ?? "") && use.input == 0 { found.append(use.node.outputs[0]) }
                    else if transparent.contains(use.node.opType), use.input == 0 { frontier += use.node.outputs.prefix(1) }
                }
            }
            return found
        }
        let neighbours = Dictionary(uniqueKeysWithValues: eligible.map { ($0.outputs[0], (up: producers($0), down: consumers($0))) })
        let k = Dictionary(uniqueKeysWithValues: eligible.map { ($0.outputs[0], reductionLength($0, constants: constants) ?? 0) })
        let depthwise = Set(eligible.filter { isDepthwise($0, constants: constants) }.map { $0.outputs[0] })

        var selected = Set(eligible.map { $0.outputs[0] }.filter { !depthwise.contains($0) && k[$0, default: 0] >= alone })
        // Grow from there: layers beside int8 ones, and depthwise layers between two, until stable.
        var changed = true
        while changed {
            changed = false
            for node in eligible where !selected.contains(node.outputs[0]) {
                let key = node.outputs[0], n = neighbours[key]!
                let up = n.up.contains(where: selected.contains), down = n.down.contains(where: selected.contains)
                let pays = depthwise.contains(key) ? up && down : k[key, default: 0] >= besideInt8 && (up || down)
                if pays { selected.insert(key); changed = true }
            }
        }
        for node in eligible where !selected.contains(node.outputs[0]) {
            let key = node.outputs[0]
            let why = depthwise.contains(key)
                ? "depthwise convolution without int8 on both sides: int8 would add conversions, not save time"
                : "int8 does not pay here: reduction length K = \(k[key, default: 0]) (< \(alone) alone, < \(besideInt8) beside int8 layers)"
            verdicts[key] = .init(node: node.name.isEmpty ? key : node.name, opType: node.opType, quantized: false, reason: why + " (--every-layer quantizes it)")
        }
        return selected
    }
}
