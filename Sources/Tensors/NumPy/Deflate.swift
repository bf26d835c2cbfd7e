import FoundationEssentials
import CZlib

/// The thin layer over zlib: raw deflate streams (as zip stores them) and CRC-32. Every zlib
/// status becomes a `TensorError` naming the archive member.
enum Deflate {
    /// zlib counts in 32-bit units; larger buffers go through in pieces of this size.
    private static let piece = 1 << 30

    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let n = min(piece, bytes.count - offset)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Inflates a raw deflate stream that must produce exactly `expectedSize` bytes.
    static func inflate(_ input: UnsafeRawBufferPointer, expectedSize: Int, member: String) throws(TensorError) -> Data {
        var output = Data(count: expectedSize)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .malformedFile(path: member, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var status = Z_OK
        var produced = 0
        output.withUnsafeMutableBytes { out in
            var consumed = 0
            repeat {
                if stream.avail_in == 0 && consumed < input.count {
                    let n = min(piece, input.count - consumed)
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                    stream.avail_in = uInt(n)
                    consumed += n
                }
                if stream.avail_out == 0 {
                    let n = min(piece, expectedSize - produced)
                    if n == 0 { status = Z_BUF_ERROR; break }
                    stream.next_out = out.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(n)
                }
                let before = stream.avail_out
                status = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced += Int(before - stream.avail_out)
                if status == Z_BUF_ERROR && stream.avail_in == 0 && consumed >= input.count { break }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END, produced == expectedSize else {
            throw .malformedFile(path: member, reason: "corrupt deflate data (zlib status \(status), \(produced) of \(expectedSize) bytes)")
        }
        return output
    }

    /// Deflates `input` to a raw stream (zlib level 6, numpy's `savez_compressed` default).
    static func deflate(_ input: UnsafeRawBufferPointer, member: String) throws(TensorError) -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .unsupported("zlib could not start deflating \(member)")
        }
        defer { deflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var consumed = 0
        var status = Z_OK
        repeat {
            if stream.avail_in == 0 && consumed < input.count {
                let n = min(piece, input.count - consumed)
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(n)
                consumed += n
            }
            let flush = consumed >= input.count ? Z_FINISH : Z_NO_FLUSH
            let produced: Int = chunk.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress
                stream.avail_out = uInt(buf.count)
                status = CZlib.deflate(&stream, flush)
                return buf.count - Int(stream.avail_out)
            }
            output.append(contentsOf: chunk[0..<produced])
        } while status == Z_OK || status == Z_BUF_ERROR
        guard status == Z_STREAM_END else { throw .unsupported("zlib failed deflating \(member) (status \(status))") }
        return output
    }
}
