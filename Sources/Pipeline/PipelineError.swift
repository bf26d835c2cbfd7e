import FoundationEssentials

/// Why a pipeline could not start or had to stop.
public enum PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A source that cannot be read as frames; says which and why.
    case badSource(String, String)
    /// Bad settings (batch size, queue depth …).
    case badConfiguration(String)
    /// The model's input or outputs do not fit the pipeline.
    case badModel(String)

    public var description: String {
        switch self {
        case .badSource(let source, let why): "\(source): \(why)"
        case .badConfiguration(let why): why
        case .badModel(let why): why
        }
    }
}
