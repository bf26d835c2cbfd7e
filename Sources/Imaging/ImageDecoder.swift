import FoundationEssentials
import Tensors

/// Decodes JPEG (libjpeg-turbo) and PNG (libpng) files to 8-bit three-channel images.
///
/// Gray, palette and alpha images become three channels (gray replicated, alpha dropped, 16-bit
/// samples keep their high byte), as OpenCV's `imread(IMREAD_COLOR)` does; JPEGs are turned upright
/// by their EXIF orientation unless `applyEXIFOrientation` is off. The pixel limit is checked from
/// the header, before any pixel memory is allocated.
public struct ImageDecoder: Sendable {
    public var order: ChannelOrder
    public var applyEXIFOrientation: Bool
    /// Images with more pixels are refused (a 16k x 16k photo is 256 M pixels, 768 MB decoded).
    public var maxPixels: Int

    public static let defaultMaxPixels = 1 << 28

    public init(order: ChannelOrder = .rgb, applyEXIFOrientation: Bool = true, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.order = order
        self.applyEXIFOrientation = applyEXIFOrientation
        self.maxPixels = maxPixels
    }

    public enum Format: String, Sendable { case jpeg, png }

    /// The format by the file's first bytes, or nil.
    public static func sniff(_ data: Data) -> Format? {
        let head = [UInt8](data.prefix(8))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }

    public func decode(file path: String) throws(ImagingError) -> Image {
        let data: Data
        do { data = try FileBytes.read(path) } catch {
            throw .unreadable(image: path, reason: "\(error)")
        }
        return try decode(data, name: path)
    }

    /// Decodes an encoded image held in memory; `name` is used in error messages.
    public func decode(_ data: Data, name: String) throws(ImagingError) -> Image {
        let stored = try header(of: data, name: name)
        var pixels = try allocate(width: stored.width, height: stored.height, name: name)
        try decodeStored(data, name: name, stored, into: &pixels)
        let image = try Image(pixels: pixels, order: order, source: name)
        return try stored.orientation.apply(to: image)
    }

    /// The size the image will have once decoded (EXIF orientation applied), from its header alone.
    public func size(of data: Data, name: String) throws(ImagingError) -> (width: Int, height: Int) {
        let stored = try header(of: data, name: name)
        return stored.orientation.rawValue >= 5 ? (stored.height, stored.width) : (stored.width, stored.height)
    }

    /// Decodes into a caller's uint8 [height, width, 3] tensor (e.g. a reused frame buffer): the
    /// decoder writes its rows in place, so no image-sized allocation is made when the picture is
    /// stored upright. The tensor must have the size `size(of:name:)` reports; on failure its
    /// content is unspecified.
    public func decode(_ data: Data, name: String, into pixels: inout Tensor) throws(ImagingError) {
        let stored = try header(of: data, name: name)
        let swaps = stored.orientation.rawValue >= 5
        let (width, height) = swaps ? (stored.height, stored.width) : (stored.width, stored.height)
        guard pixels.dtype == .uint8, pixels.shape == [height, width, 3] else {
            throw .badTensor("\(name): decoding needs a uint8 [\(height), \(width), 3] tensor, got \(pixels.dtype) \(pixels.shape)")
        }
        try checkLimit(width: width, height: height, name: name)
        guard stored.orientation == .normal else {
            // Turning needs a second buffer: decode, turn, copy.
            let upright = try decode(data, name: name)
            upright.pixels.withUnsafeBytes { src in pixels.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
            return
        }
        try decodeStored(data, name: name, stored, into: &pixels)
    }

    /// What the header says: the format, the stored size, and how to turn the picture upright.
    private struct Stored {
        let format: Format
        let width: Int, height: Int
        let orientation: EXIFOrientation
        let jpeg: JPEGCodec.Header?
        let png: PNGCodec.Header?
    }

    private func header(of data: Data, name: String) throws(ImagingError) -> Stored {
        guard !data.isEmpty else { throw .unsupportedFormat(image: name, reason: "the file is empty") }
        guard let format = Self.sniff(data) else {
            throw .unsupportedFormat(image: name, reason: "not a JPEG or PNG file (first bytes \(data.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")))")
        }
        switch format {
        case .jpeg:
            let h = try JPEGCodec.header(of: data, image: name)
            return Stored(format: .jpeg, width: h.width, height: h.height,
                          orientation: applyEXIFOrientation ? EXIFOrientation.read(jpeg: data) : .normal, jpeg: h, png: nil)
        case .png:
            let h = try PNGCodec.header(of: data, image: name)
            return Stored(format: .png, width: h.width, height: h.height, orientation: .normal, jpeg: nil, png: h)
        }
    }

    /// The pixels as stored (before any turn) into a [stored height, stored width, 3] tensor.
    private func decodeStored(_ data: Data, name: String, _ stored: Stored, into pixels: inout Tensor) throws(ImagingError) {
        let order = self.order
        try pixels.withUnsafeMutableBytes { (raw) throws(ImagingError) in
            switch stored.format {
            case .jpeg: try JPEGCodec.decode(data, image: name, header: stored.jpeg!, order: order, into: raw, rowStride: stored.width * 3)
            case .png: try PNGCodec.decode(data, image: name, header: stored.png!, order: order, into: raw, rowStride: stored.width * 3)
            }
        }
    }

    func checkLimit(width: Int, height: Int, name: String) throws(ImagingError) {
        guard width > 0, height > 0 else { throw .badSize(image: name, reason: "the image is empty (\(width)x\(height) pixels)") }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maxPixels, width <= maxPixels, height <= maxPixels else {
            throw .badSize(image: name, reason: "\(width)x\(height) pixels is over the limit of \(maxPixels) (raise it with --max-pixels)")
        }
    }

    private func allocate(width: Int, height: Int, name: String) throws(ImagingError) -> Tensor {
        try checkLimit(width: width, height: height, name: name)
        do { return try Tensor(dtype: .uint8, shape: [height, width, 3], zeroed: false) } catch {
            throw .badSize(image: name, reason: "cannot allocate \(width)x\(height)x3 bytes: \(error)")
        }
    }
}
