/// What went wrong loading, saving or checking a model. Every message names the file, node or
/// value concerned and, where there is one, what to do about it.
public enum ONNXError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read or written.
    case io(path: String, reason: String)
    /// The bytes are not a valid ONNX model (truncated, random, wrong file type …).
    case malformed(path: String, reason: String)
    /// An external-data reference is broken (missing file, out-of-range offset, unsafe path).
    case externalData(path: String, tensor: String, reason: String)
    /// A tensor in the model cannot be decoded or encoded.
    case tensor(name: String, reason: String)
    /// The graph breaks a structural rule (reported by the validator).
    case invalidGraph([ValidationIssue])
    /// A model feature HalfPipe does not handle.
    case unsupported(String)

    public var description: String {
        switch self {
        case .io(let path, let reason): "\(path): \(reason)"
        case .malformed(let path, let reason): "\(path): not a valid ONNX model: \(reason)"
        case .externalData(let path, let tensor, let reason): "\(path): external data of tensor '\(tensor)': \(reason)"
        case .tensor(let name, let reason): "tensor '\(name)': \(reason)"
        case .invalidGraph(let issues): "invalid graph: " + issues.map(\.description).joined(separator: "; ")
        case .unsupported(let what): "unsupported: \(what)"
        }
    }
}
