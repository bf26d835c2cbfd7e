import FoundationEssentials

/// Why a model's outputs could not be turned into boxes.
public enum DetectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The outputs' shapes match no decoder we know; says what was seen and what to pass.
    case unrecognisedHead(String)
    /// The outputs do not fit the decoder that was asked for.
    case headMismatch(decoder: String, reason: String)
    /// A threshold or limit out of range.
    case badParameter(String)

    public var description: String {
        switch self {
        case .unrecognisedHead(let why): "cannot tell how to decode this model's outputs: \(why)"
        case .headMismatch(let decoder, let reason): "the outputs do not fit the \(decoder) decoder: \(reason)"
        case .badParameter(let why): why
        }
    }
}
