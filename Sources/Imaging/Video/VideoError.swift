import FoundationEssentials

/// Why a video could not be read or written.
public enum VideoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// GStreamer (or a plugin) is missing: says what to install.
    case unavailable(String)
    /// The source cannot be opened or decoded.
    case unreadable(source: String, reason: String)
    /// The output cannot be encoded or written.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unavailable(let why): "video needs GStreamer: \(why)"
        case .unreadable(let source, let reason): "\(source): cannot read the video: \(reason)"
        case .unwritable(let path, let reason): "\(path): cannot write the video: \(reason)"
        }
    }
}
