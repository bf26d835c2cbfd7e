import Tensors

/// Any value an ONNX model passes: a tensor, a sequence of values (SplitToSequence, Loop scan
/// outputs), or an optional that may hold nothing (Optional, If branches). Most models only use
/// tensors and `ORTSession.run(_:)`; `run(values:)` takes and gives these.
public indirect enum SessionValue: Sendable {
    case tensor(Tensor)
    case sequence([SessionValue])
    /// nil is ONNX's empty optional ("None").
    case optional(SessionValue?)

    /// The tensors inside, depth first.
    public var tensors: [Tensor] {
        switch self {
        case .tensor(let t): [t]
        case .sequence(let elements): elements.flatMap(\.tensors)
        case .optional(let inner): inner?.tensors ?? []
        }
    }

    /// An optional's content (recursively); the value itself otherwise. ORT hands a present
    /// optional back as its content, so results compare after this.
    public var unwrapped: SessionValue? {
        if case .optional(let inner) = self { return inner?.unwrapped }
        return self
    }
}
