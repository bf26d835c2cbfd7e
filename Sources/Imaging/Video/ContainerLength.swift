import FoundationEssentials
import Tensors

/// Whether a video file is shorter than its container says: RIFF (AVI) declares its length in
/// its first chunk, ISO base media files (MP4, MOV, M4V, 3GP) in every top-level box. A file cut
/// short (an interrupted copy or download) decodes up to the cut and then simply ends, so this is
/// how a reader tells a truncated file from a short one.
enum ContainerLength {
    /// Why the file at `path` is truncated, or nil (complete, or a container this does not read).
    static func truncation(of path: String) -> String? {
        guard let bytes = try? FileBytes.read(path) else { return nil }
        let size = bytes.count
        guard size >= 12 else { return nil }
        func u32le(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[bytes.startIndex + at + $1]) << (8 * $1) } }
        func u32be(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(bytes[bytes.startIndex + at + $1]) } }
        func tag(_ at: Int) -> String { String(decoding: bytes[(bytes.startIndex + at)..<(bytes.startIndex + at + 4)], as: UTF8.self) }
        if tag(0) == "RIFF" {
            let declared = u32le(4) + 8
            return declared > size ? "the file has \(size) bytes where its RIFF header declares \(declared): the file is truncated" : nil
        }
        guard ["ftyp", "moov", "mdat", "free", "wide"].contains(tag(4)) else { return nil }
        var at = 0
        while at + 8 <= size {
            var length = u32be(at)
            if length == 1, at + 16 <= size { length = (0..<8).reduce(0) { $0 << 8 | Int(bytes[bytes.startIndex + at + 8 + $1]) } }
            if length == 0 { return nil }   // the last box runs to the end of the file
            guard length >= 8 else { return nil }
            if at + length > size {
                return "the file has \(size) bytes where its '\(tag(at + 4))' box ends at byte \(at + length): the file is truncated"
            }
            at += length
        }
        return nil
    }
}
