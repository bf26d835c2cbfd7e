/// What went wrong with a tensor or a tensor file; every message says what and where.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case invalidShape(String)
    case dtypeMismatch(expected: String, actual: DType)
    case unsupported(String)
    case malformedFile(path: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidShape(let why): "invalid shape: \(why)"
        case .dtypeMismatch(let expected, let actual): "element type is \(actual), expected \(expected)"
        case .unsupported(let why): "unsupported: \(why)"
        case .malformedFile(let path, let reason): "\(path): \(reason)"
        case .io(let path, let reason): "\(path): \(reason)"
        }
    }
}
