import CImageCodecs
import FoundationEssentials

/// The one layer over libpng (through CImageCodecs, which turns libpng's longjmp errors into
/// status codes): header reading and decoding to 8-bit RGB/BGR straight into a caller's buffer.
enum PNGCodec {
    struct Header {
        let width: Int
        let height: Int
        let bitDepth: Int
        let colorType: Int
        let interlaced: Bool
    }

    static func header(of data: Data, image: String) throws(ImagingError) -> Header {
        var info = HPPNGInfo()
        let status = data.withUnsafeBytes { raw in
            hp_png_read_info(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, &info)
        }
        if status != 0 { throw .corrupt(image: image, reason: "PNG header: \(message(&info))") }
        return Header(width: Int(info.width), height: Int(info.height), bitDepth: Int(info.bitDepth),
                      colorType: Int(info.colorType), interlaced: info.interlaced != 0)
    }

    static func decode(_ data: Data, image: String, header: Header, order: ChannelOrder,
                       into destination: UnsafeMutableRawBufferPointer, rowStride: Int) throws(ImagingError) {
        precondition(destination.count >= (header.height - 1) * rowStride + header.width * 3)
        var info = HPPNGInfo()
        let status = data.withUnsafeBytes { raw in
            hp_png_decode_rgb(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, order == .bgr ? 1 : 0,
                              destination.baseAddress!.assumingMemoryBound(to: UInt8.self), rowStride,
                              UInt32(header.width), UInt32(header.height), &info)
        }
        if status != 0 { throw .corrupt(image: image, reason: "PNG data: \(message(&info))") }
    }

    private static func message(_ info: inout HPPNGInfo) -> String {
        withUnsafeBytes(of: &info.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
