import FoundationEssentials
import Tensors

/// A JPEG still compressed, with its size from the header: decoded where it is used (on a GPU
/// with nvJPEG), so its pixels never cross the host.
public struct EncodedJPEG: Sendable {
    public let bytes: [UInt8]
    public let width: Int
    public let height: Int
    /// The channel order it is to be decoded in.
    public let order: ChannelOrder
    public let source: String?

    public init(bytes: [UInt8], width: Int, height: Int, order: ChannelOrder, source: String?) {
        self.bytes = bytes
        self.width = width
        self.height = height
        self.order = order
        self.source = source
    }

    /// Reads a JPEG file's bytes and its size (no pixels are decoded). Nil for a JPEG the host
    /// must decode to give the CPU path's pixels: one turned by its EXIF orientation, or a
    /// grayscale one.
    public static func read(file path: String, order: ChannelOrder) throws(ImagingError) -> EncodedJPEG? {
        let data: Data
        do { data = try FileBytes.read(path) } catch { throw .unreadable(image: path, reason: "\(error)") }
        guard ImageDecoder.sniff(data) == .jpeg else { throw .unsupportedFormat(image: path, reason: "not a JPEG file") }
        let header = try JPEGCodec.header(of: data, image: path)
        guard !header.grayscale, EXIFOrientation.read(jpeg: data) == .normal else { return nil }
        try ImageDecoder(order: order).checkLimit(width: header.width, height: header.height, name: path)
        return EncodedJPEG(bytes: [UInt8](data), width: header.width, height: header.height, order: order, source: path)
    }
}

/// One picture of a batch to preprocess: decoded pixels, or a JPEG its device decodes first.
public enum PictureInput: Sendable {
    case pixels(Image)
    case jpeg(EncodedJPEG)

    public var width: Int { switch self { case .pixels(let i): i.width; case .jpeg(let j): j.width } }
    public var height: Int { switch self { case .pixels(let i): i.height; case .jpeg(let j): j.height } }
    public var order: ChannelOrder { switch self { case .pixels(let i): i.order; case .jpeg(let j): j.order } }
    public var source: String? { switch self { case .pixels(let i): i.source; case .jpeg(let j): j.source } }
    /// Bytes of its 8-bit interleaved pixels, once decoded.
    public var pixelBytes: Int { width * height * 3 }

    /// Its pixels on the host: a JPEG is decoded here (a path without a GPU decoder).
    public func hostImage() throws(ImagingError) -> Image {
        switch self {
        case .pixels(let image): image
        case .jpeg(let jpeg): try ImageDecoder(order: jpeg.order).decode(Data(jpeg.bytes), name: jpeg.source ?? "a JPEG")
        }
    }
}
