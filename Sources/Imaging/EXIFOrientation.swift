import FoundationEssentials
import Tensors

/// The EXIF orientation of a JPEG (TIFF tag 0x0112): how a camera says the stored pixels must be
/// turned for display. TurboJPEG does not read EXIF, so we find the tag ourselves and apply it after
/// decoding, as OpenCV's `imread` and Pillow's `exif_transpose` do.
public enum EXIFOrientation: Int, Sendable, CaseIterable {
    case normal = 1, mirrored = 2, rotated180 = 3, flipped = 4
    case transposed = 5, rotated90 = 6, transverse = 7, rotated270 = 8

    /// The orientation recorded in a JPEG's APP1 Exif segment; `.normal` when there is none or it
    /// cannot be read (a damaged Exif block must not stop a picture from decoding).
    public static func read(jpeg data: Data) -> EXIFOrientation {
        let bytes = [UInt8](data.prefix(256 * 1024))
        var at = 2
        // Walk the marker segments before the image data; the Exif block sits near the start.
        while at + 4 <= bytes.count, bytes[at] == 0xFF {
            let marker = bytes[at + 1]
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan / end of image
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard length >= 2, at + 2 + length <= bytes.count else { break }
            if marker == 0xE1, length >= 8, Array(bytes[(at + 4)..<(at + 10)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return tiffOrientation(bytes[(at + 10)..<(at + 2 + length)]) ?? .normal
            }
            at += 2 + length
        }
        return .normal
    }

    private static func tiffOrientation(_ tiff: ArraySlice<UInt8>) -> EXIFOrientation? {
        let t = Array(tiff)
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ i: Int) -> Int? {
            guard i >= 0, i + 2 <= t.count else { return nil }
            return little ? Int(t[i]) | Int(t[i + 1]) << 8 : Int(t[i]) << 8 | Int(t[i + 1])
        }
        func u32(_ i: Int) -> Int? {
            guard let a = u16(i), let b = u16(i + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let e = ifd + 2 + entry * 12
            guard let tag = u16(e) else { return nil }
            // Orientation is a SHORT (type 3) with one value, stored in the entry itself.
            if tag == 0x0112, u16(e + 2) == 3, let value = u16(e + 8) { return EXIFOrientation(rawValue: value) }
        }
        return nil
    }

    /// `image` turned upright.
    func apply(to image: Image) throws(ImagingError) -> Image {
        if self == .normal { return image }
        let h = image.height, w = image.width
        let swaps = rawValue >= 5
        let outH = swaps ? w : h, outW = swaps ? h : w
        var out: Tensor
        do { out = try Tensor(dtype: .uint8, shape: [outH, outW, 3], zeroed: false) } catch {
            throw .badTensor("cannot allocate a \(outH)x\(outW) image: \(error)")
        }
        let orientation = self
        image.pixels.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        // The source pixel shown at (y, x) once upright.
                        let (sy, sx): (Int, Int) = switch orientation {
                        case .normal: (y, x)
                        case .mirrored: (y, w - 1 - x)
                        case .rotated180: (h - 1 - y, w - 1 - x)
                        case .flipped: (h - 1 - y, x)
                        case .transposed: (x, y)
                        case .rotated90: (h - 1 - x, y)
                        case .transverse: (h - 1 - x, w - 1 - y)
                        case .rotated270: (x, w - 1 - y)
                        }
                        let s = (sy * w + sx) * 3, d = (y * outW + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return try Image(pixels: out, order: image.order, source: image.source)
    }
}
