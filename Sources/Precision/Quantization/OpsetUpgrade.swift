import FoundationEssentials
import ONNX
import Tensors

/// Raises a model's default-domain opset from 10–12 to 13, where QuantizeLinear/DequantizeLinear
/// gain the `axis` of per-channel scales. ONNX Runtime's quantizer writes per-channel
/// DequantizeLinear into opset-11 models as they are, and the result does not load; this rewrites
/// the few operators whose meaning changed on the way instead: Split, Squeeze, Unsqueeze and
/// ReduceSum take their axes as inputs; Softmax, LogSoftmax and Hardmax work on one axis instead
/// of the input flattened to 2-D; Dropout is an identity at inference.
public enum OpsetUpgrade {
    public static let target = 13

    /// Rewrites `model` in place when its opset is below 13; returns one line per kind of rewrite.
    public static func apply(to model: Model) throws -> [String] {
        guard let version = model.opsetVersion("ai.onnx") ?? model.opsetVersion(""), version < target else { return [] }
        guard version >= 10 else {
            throw PrecisionError.notConvertible("the model uses opset \(version); quantization supports opset 10 and later (upgrade it with onnx.version_converter first)")
        }
        var names = UniqueNames(model)
        var counts: [String: Int] = [:]
        for graph in model.allGraphs {
            var rewritten: [Node] = []
            for node in graph.nodes {
                guard node.canonicalDomain == "ai.onnx" else { rewritten.append(node); continue }
                switch node.opType {
                case "Split" where node[attribute: "split"] != nil:
                    moveToInput(node, attribute: "split", at: 1, graph: graph, names: &names)
                case "Squeeze" where node[attribute: "axes"] != nil, "Unsqueeze" where node[attribute: "axes"] != nil,
                     "ReduceSum" where node[attribute: "axes"] != nil:
                    moveToInput(node, attribute: "axes", at: 1, graph: graph, names: &names)
                case "Softmax", "LogSoftmax", "Hardmax":
                    // axis −1 flattens to [rest, last] and normalises the last axis: the same in both.
                    let axis = node[attribute: "axis"]?.int ?? 1
                    counts[node.opType, default: 0] += axis == -1 ? 0 : 1
                    rewritten += axis == -1 ? [node] : flattenedSoftmax(node, axis: axis, names: &names)
                    continue
                case "Dropout":
                    // Inference: the data passes through; a mask output, if used, is all true.
                    guard node.outputs.count < 2 || node.outputs[1].isEmpty else {
                        throw PrecisionError.notConvertible("node '\(node.label)': Dropout's mask output is used; raise the opset to 13 with onnx.version_converter first")
                    }
                    node.opType = "Identity"
                    node.inputs = [node.inputs[0]]
                    node.attributes = []
                case "Resize" where node[attribute: "coordinate_transformation_mode"]?.string == "tf_half_pixel_for_nn":
                    throw PrecisionError.notConvertible("node '\(node.label)': Resize's tf_half_pixel_for_nn mode has no opset-13 form; per-channel quantization needs opset 13 (try --per-tensor)")
                default:
                    rewritten.append(node)
                    continue
                }
                counts[node.opType, default: 0] += 1
                rewritten.append(node)
            }
            graph.nodes = rewritten
        }
        for i in model.proto.opsetImport.indices where ["", "ai.onnx"].contains(model.proto.opsetImport[i].domain) {
            model.proto.opsetImport[i].version = Int64(target)
        }
        model.proto.irVersion = max(model.proto.irVersion, 7)
        return ["note: opset \(version) → \(target) (per-channel scales need it)"
            + (counts.isEmpty ? "" : "; rewrote " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))]
    }

    /// An ints attribute becomes an int64 constant input (an initializer next to the node).
    static func moveToInput(_ node: Node, attribute: String, at index: Int, graph: Graph, names: inout UniqueNames) {
        let values = node[attribute: attribute]?.ints ?? []
        node.attributes.removeAll { $0.name == attribute }
        let name = names.make((node.name.isEmpty ? node.outputs[0] : node.name) + "_" + attribute)
        graph.initializers.append(Initializer(name: name, tensor: try! Tensor(shape: Shape([values.count]), elements: values.map(Int64.init))))
        var inputs = node.inputs
        while inputs.count < index { inputs.append("") }
        inputs.insert(name, at: index)
        node.inputs = inputs
    }

    /// Before opset 13 these ops flatten the input to [∏ dims before axis, ∏ dims from axis] and
    /// normalise each row; now they work on one axis. Flatten → op over the last axis → Reshape to
    /// the input's shape keeps the old meaning for any rank.
    static func flattenedSoftmax(_ node: Node, axis: Int, names: inout UniqueNames) -> [Node] {
        let input = node.inputs[0], output = node.outputs[0], base = node.name.isEmpty ? output : node.name
        let flat = names.make(base + "_flat"), normalised = names.make(base + "_2d"), shape = names.make(base + "_shape")
        node.attributes = [.int("axis", -1)]
        node.inputs = [flat]
        node.outputs = [normalised]
        return [
            Node(opType: "Flatten", name: names.make(base + "_flatten"), inputs: [input], outputs: [flat], attributes: [.int("axis", axis)]),
            node,
            Node(opType: "Shape", name: names.make(base + "_shape_of"), inputs: [input], outputs: [shape]),
            Node(opType: "Reshape", name: names.make(base + "_unflatten"), inputs: [normalised, shape], outputs: [output]),
        ]
    }
}
