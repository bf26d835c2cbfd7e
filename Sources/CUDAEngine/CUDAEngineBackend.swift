import FoundationEssentials
import CUDA
import Inference
import ONNX
import Tensors

/// The FP16 CUDA engine as a `Backend`: CUDA devices only; what it supports is decided by op type
/// and attributes in the op table, beside the lowering that applies the same rules, never by trying.
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

    /// Ops the engine handles: the keys of its op table (attribute limits are each entry's check).
    public static let operators: Set<String> = OperatorTable.operators

    public func mayRefuse(_ node: Node, computing type: DType) -> Bool {
        guard node.canonicalDomain == "ai.onnx", let entry = OperatorTable.entries[node.opType] else { return true }
        return entry.check != nil
    }

    public func supports(_ node: Node, _ context: NodeContext) -> NodeSupport {
        guard node.canonicalDomain == "ai.onnx" else { return .unsupported("domain \(node.canonicalDomain)") }
        guard let entry = OperatorTable.entries[node.opType] else { return .unsupported("no kernel for \(node.opType)") }
        return entry.check?(node, context) ?? .supported
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
