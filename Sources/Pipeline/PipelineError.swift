import FoundationEssentials

/// Why a pipeline could not start or had to stop.
public enum PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A source that cannot be read as frames; says which and why.
    case badSource(String, String)
    /// Bad settings (batch size, queue depth …).
    case badConfiguration(String)
    /// The model's input or outputs do not fit the pipeline.
    case badModel(String)
    /// A stage stopped because the run was cancelled (another stage failed first: that failure is
    /// the run's error).
    case cancelled
    /// A broken invariant of the pipeline itself: a bug, not bad input.
    case `internal`(String)

    public var description: String {
        switch self {
        case .badSource(let source, let why): "\(source): \(why)"
        case .badConfiguration(let why): why
        case .badModel(let why): why
        case .cancelled: "the run was cancelled"
        case .internal(let what): what
        }
    }

    /// A bug of ours rather than bad input (exit code 70). A cancellation is neither: the failure
    /// that cancelled the run is the run's error.
    public var isInternal: Bool { if case .internal = self { true } else { false } }
}
