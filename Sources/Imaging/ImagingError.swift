import FoundationEssentials

/// What went wrong while decoding or preprocessing images. Every message names the image (its
/// file, or its index in a batch) and says what to do.
public enum ImagingError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(image: String, reason: String)
    /// Neither JPEG nor PNG, by its first bytes.
    case unsupportedFormat(image: String, reason: String)
    /// The decoder rejected the data (corrupt, truncated, or a variant it cannot convert).
    case corrupt(image: String, reason: String)
    /// Zero-sized, or more pixels than the configured limit.
    case badSize(image: String, reason: String)
    /// A preprocessing spec that cannot be carried out.
    case invalidSpec(String)
    /// A batch tensor or an image array of the wrong shape or element type.
    case badTensor(String)

    public var description: String {
        switch self {
        case .unreadable(let image, let reason): "\(image): cannot read the file: \(reason)"
        case .unsupportedFormat(let image, let reason): "\(image): unsupported image format: \(reason) (JPEG and PNG are supported)"
        case .corrupt(let image, let reason): "\(image): cannot decode: \(reason)"
        case .badSize(let image, let reason): "\(image): \(reason)"
        case .invalidSpec(let why): "invalid preprocessing spec: \(why)"
        case .badTensor(let why): why
        }
    }
}
