import FoundationEssentials
import CUDA
import Inference
import ONNX
import Tensors

/// The FP16 CUDA engine as a `Backend`: CUDA devices only; what it supports is decided by op type
/// and attributes here, the same rules the lowering applies, never by trying.
public struct CUDAEngineBackend: Backend {
    public let name = "cuda-engine"
    /// Where nodes without a kernel run (ONNX Runtime on the CPU); nil refuses such models.
    public let fallback: HostFallback?

    public init(fallback: HostFallback? = nil) { self.fallback = fallback }

    public func unavailability(on device: Device) -> String? {
        guard case .cuda(let index) = device else { return "the CUDA engine runs on NVIDIA GPUs only (--device cuda)" }
        do {
            let context = try CUDAContext(device: index)
            let capability = context.device.computeCapability
            // FP16 tensor cores: Volta (7.0) and newer.
            guard capability.major >= 7 else {
                return "\(context.device.name) (compute \(capability.major).\(capability.minor)) has no FP16 tensor cores; the engine needs compute 7.0 or newer"
            }
            _ = try CuDNN.libraryVersion(context.cuda)
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Ops the lowering has a kernel for (attribute limits are checked by `supports`).
    public static let operators: Set<String> = ElementwiseLowering.operators.union([
        "Conv", "Gemm", "MatMul", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Transpose", "Concat", "Slice", "Split",
        "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Softmax", "LogSoftmax", "Resize", "Upsample", "BatchNormalization", "LRN",
        "LayerNormalization", "ConvTranspose",
    ]).union(HostFolding.foldable)

    public func mayRefuse(_ node: Node, computing type: DType) -> Bool {
        node.canonicalDomain != "ai.onnx" || !Self.operators.contains(node.opType) || ["Conv", "MatMul", "Gemm", "Resize", "Upsample", "MaxPool", "AveragePool"].contains(node.opType)
    }

    public func supports(_ node: Node, _ context: NodeContext) -> NodeSupport {
        guard node.canonicalDomain == "ai.onnx" else { return .unsupported("domain \(node.canonicalDomain)") }
        guard Self.operators.contains(node.opType) else { return .unsupported("no kernel for \(node.opType)") }
        switch node.opType {
        case "Conv":
            if let w = context.inputShapes[1], w.count != 4 { return .unsupported("only 2-D convolutions") }
            if context.constantInputs[1] == nil { return .decidedAtRun("weights must be constant") }
        case "MatMul", "Gemm":
            // A computed right operand is a cuBLASLt product (MatMul); Gemm needs constant weights.
            if node.opType == "Gemm", context.constantInputs[1] == nil { return .unsupported("a right operand computed at run time") }
            if node.opType == "Gemm", (node[attribute: "transA"]?.int ?? 0) != 0 { return .unsupported("transposed A") }
        case "LayerNormalization":
            let axis = node[attribute: "axis"]?.int ?? -1
            if axis != -1, let rank = context.inputShapes[0]?.count, axis != rank - 1 { return .unsupported("normalizing from an inner axis") }
        case "Resize", "Upsample":
            if (node[attribute: "mode"]?.string ?? "nearest") != "nearest" { return .unsupported("only nearest resizing") }
        case "MaxPool", "AveragePool":
            if (node[attribute: "kernel_shape"]?.ints.count ?? 2) != 2 { return .unsupported("only 2-D pooling") }
        default:
            break
        }
        return .supported
    }

    public func makeSession(_ model: ModelSource, device: Device, options: SessionOptions) throws -> any Session {
        guard case .cuda(let index) = device else { throw EngineError.badInput("the CUDA engine runs on NVIDIA GPUs only (--device cuda)") }
        return try EngineSession(model, device: index, fallback: fallback)
    }

    public func refusal(in error: any Error) -> NodeRefusal? {
        guard let error = error as? EngineError, case .unsupported(let node, let op, let reason) = error else { return nil }
        return NodeRefusal(nodeName: node, opType: op, message: reason)
    }
}
