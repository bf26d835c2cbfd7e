import CUDA
import ONNX

/// Why the engine cannot plan or run a model: each says what, where, and what to do.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    /// A node the engine has no kernel for (the hybrid split sends such nodes to ONNX Runtime).
    case unsupported(node: String, opType: String, reason: String)
    /// The model or the data given does not fit: shapes, types, missing inputs.
    case badInput(String)
    /// A CUDA, cuDNN or NVRTC call failed.
    case cuda(CUDAError)
    /// A broken invariant of the engine's own plan: a bug, not bad input.
    case `internal`(String)

    /// The engine refusing `node` for `reason`: the one way a lowering says no, so every refusal
    /// names the node and its op alike (and the hybrid split can send the node to the fallback).
    static func refusing(_ node: Node, _ reason: String) -> EngineError {
        .unsupported(node: node.label, opType: node.opType, reason: reason)
    }

    public var description: String {
        switch self {
        case .unsupported(let node, let op, let reason):
            "the CUDA engine cannot run \(node) (\(op)): \(reason); run the model with --device cpu"
        case .badInput(let text): text
        case .cuda(let error): "CUDA engine: \(error)"
        case .internal(let text): "CUDA engine: \(text)"
        }
    }

    /// A bug of ours rather than bad input (exit code 70).
    public var isInternal: Bool { if case .internal = self { true } else { false } }
}
