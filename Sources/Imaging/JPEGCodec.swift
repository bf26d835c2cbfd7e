import CImageCodecs
import FoundationEssentials

/// The one layer over libjpeg-turbo's TurboJPEG API: header reading and decoding straight into a
/// caller's buffer, with every failure turned into an `ImagingError` carrying TurboJPEG's message.
enum JPEGCodec {
    struct Header {
        let width: Int
        let height: Int
        /// One component (TurboJPEG expands it to RGB on decoding).
        var grayscale = false
    }

    // TurboJPEG constants (turbojpeg.h, libjpeg-turbo 2.1): pixel formats, colour spaces, error codes.
    private static let pixelFormatRGB: Int32 = 0
    private static let pixelFormatBGR: Int32 = 1
    private static let colorspaceCMYK: Int32 = 3
    private static let colorspaceYCCK: Int32 = 4
    private static let errorWarning: Int32 = 0

    static func header(of data: Data, image: String) throws(ImagingError) -> Header {
        try withDecompressor(image: image) { (handle) throws(ImagingError) in
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            let status = data.withUnsafeBytes { raw in
                tjDecompressHeader3(handle, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(raw.count),
                                    &width, &height, &subsampling, &colorspace)
            }
            if status != 0 { throw ImagingError.corrupt(image: image, reason: "JPEG header: \(message(handle))") }
            if colorspace == colorspaceCMYK || colorspace == colorspaceYCCK {
                throw ImagingError.unsupportedFormat(image: image, reason: "CMYK/YCCK JPEG (convert it to RGB first)")
            }
            return Header(width: Int(width), height: Int(height), grayscale: colorspace == 2)  // TJCS_GRAY
        }
    }

    /// Decodes into `destination` (height rows of `rowStride` bytes, width * 3 used per row).
    static func decode(_ data: Data, image: String, header: Header, order: ChannelOrder,
                       into destination: UnsafeMutableRawBufferPointer, rowStride: Int) throws(ImagingError) {
        precondition(destination.count >= (header.height - 1) * rowStride + header.width * 3)
        try withDecompressor(image: image) { (handle) throws(ImagingError) in
            let format = order == .rgb ? pixelFormatRGB : pixelFormatBGR
            let status = data.withUnsafeBytes { raw in
                tjDecompress2(handle, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(raw.count),
                              destination.baseAddress!.assumingMemoryBound(to: UInt8.self),
                              Int32(header.width), Int32(rowStride), Int32(header.height), format, 0)
            }
            guard status != 0 else { return }
            let text = message(handle)
            // Warnings about stray bytes between markers leave a complete image (OpenCV and Pillow
            // accept those files too); any other warning means missing data, such as a truncated file.
            if tjGetErrorCode(handle) == errorWarning && text.contains("extraneous bytes") { return }
            throw ImagingError.corrupt(image: image, reason: "JPEG data: \(text)")
        }
    }

    private static func withDecompressor<R>(image: String, _ body: (UnsafeMutableRawPointer) throws(ImagingError) -> R) throws(ImagingError) -> R {
        guard let handle = tjInitDecompress() else {
            throw .corrupt(image: image, reason: "TurboJPEG could not create a decompressor (out of memory)")
        }
        defer { tjDestroy(handle) }
        return try body(handle)
    }

    private static func message(_ handle: UnsafeMutableRawPointer) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }
}
