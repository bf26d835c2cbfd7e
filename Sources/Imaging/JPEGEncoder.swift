import CImageCodecs
import FoundationEssentials
import Tensors

/// Images to JPEG files through TurboJPEG (annotated frames, previews).
public enum JPEGEncoder {
    /// The JPEG bytes of `image` at `quality` (1–100), 4:2:0 chroma.
    public static func encode(_ image: Image, quality: Int = 90) throws(ImagingError) -> Data {
        let name = image.source ?? "image"
        guard let handle = tjInitCompress() else { throw .badTensor("\(name): TurboJPEG could not create a compressor (out of memory)") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let format: Int32 = image.order == .rgb ? 0 : 1   // TJPF_RGB, TJPF_BGR
        let subsampling: Int32 = 2                         // TJSAMP_420
        let status = image.pixels.withUnsafeBytes { raw in
            tjCompress2(handle, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(image.width), Int32(image.width * 3), Int32(image.height),
                        format, &output, &size, subsampling, Int32(min(max(quality, 1), 100)), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else {
            throw .badTensor("\(name): JPEG encoding failed: \(tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown TurboJPEG error")")
        }
        return Data(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// Writes `image` to `path` as a JPEG, through a temporary file renamed into place.
    public static func write(_ image: Image, to path: String, quality: Int = 90) throws(ImagingError) {
        let data = try encode(image, quality: quality)
        do { try FileBytes.writeAtomically(data, to: path) } catch { throw .unreadable(image: path, reason: "\(error)") }
    }
}
