import ONNX
import Inference
import Tensors

/// What the backend that will run the converted model says of each node once it computes in the
/// target type: nodes it refuses stay float32 before anything is converted; nodes it can only judge
/// at run time are named, for the conversion job to settle with one run (or keep in float32).
public struct BackendSupport: Sendable {
    /// Node key (first output) → the backend's reason.
    public var refused: [String: String] = [:]
    public var decidedAtRun: [String: String] = [:]

    /// Constant inputs larger than this are not handed to `supports`.
    static let largestConstantElements = 1024

    /// Nothing refused, nothing to decide (converting for another runtime).
    public init() {}

    public init(model: Model, target: DType, backend: any Backend) {
        let graph = model.graph
        let candidates = graph.nodes.filter { backend.mayRefuse($0, computing: target) }
        guard !candidates.isEmpty else { return }  // the common case: no type inference, no cost
        let types = TypeInference(model).types(in: graph)
        let constants = ConstantValues(graph)
        let inputShapes = Dictionary(graph.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var producers: [String: NodeContext.Producer] = [:]
        for node in graph.nodes {
            let producer = NodeContext.Producer(opType: node.opType, perm: node[attribute: "perm"]?.ints)
            for output in node.outputs where !output.isEmpty { producers[output] = producer }
        }
        func lowered(_ name: String) -> DType? {
            guard !name.isEmpty, let t = types[name] else { return nil }
            return t == .float32 ? target : t
        }
        for node in candidates {
            guard let key = node.outputs.first(where: { !$0.isEmpty }) else { continue }
            var constantInputs: [Int: Tensor] = [:]
            var shapes: [Int: [Int?]] = [:]
            var fedBy: [Int: NodeContext.Producer] = [:]
            for (slot, name) in node.inputs.enumerated() where !name.isEmpty {
                fedBy[slot] = producers[name]
                // Small constants only (scales, sizes, axes): a limit never hangs on a weight, and
                // copying every Conv's weights for a bfloat16 conversion would cost its size again.
                if let count = constants.float32ElementCount(name), count <= Self.largestConstantElements,
                   let (values, dims) = constants.float32(name), let shape = try? Shape(dims),
                   let tensor = try? Tensor(shape: shape, elements: values) {
                    constantInputs[slot] = tensor
                }
                if let declared = inputShapes[name]?.shape {
                    shapes[slot] = declared.map { if case .fixed(let n) = $0 { n } else { nil } }
                }
            }
            let opset = model.opsetVersion(node.domain) ?? model.opsetVersion("ai.onnx") ?? 1
            let context = NodeContext(opset: opset, inputTypes: node.inputs.map(lowered), outputTypes: node.outputs.map(lowered),
                                      constantInputs: constantInputs, inputShapes: shapes, inputProducers: fedBy)
            switch backend.supports(node, context) {
            case .supported: break
            case .unsupported(let why): refused[key] = why
            case .decidedAtRun(let why): decidedAtRun[key] = why
            }
        }
    }
}
