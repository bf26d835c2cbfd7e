import Foundation
@testable import Imaging
import Testing

/// A file cut short is told from a short file by its container's own length fields.
@Suite struct ContainerLengthTests {
    static func write(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("container-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func box(_ type: String, _ payload: Int, declared: Int? = nil) -> [UInt8] {
        let size = declared ?? payload + 8
        return [UInt8(size >> 24 & 255), UInt8(size >> 16 & 255), UInt8(size >> 8 & 255), UInt8(size & 255)] + Array(type.utf8) + [UInt8](repeating: 7, count: payload)
    }

    @Test func isoMediaBoxesThatRunPastTheEndAreTruncation() throws {
        let whole = try Self.write(Self.box("ftyp", 8) + Self.box("mdat", 100) + Self.box("moov", 20))
        #expect(ContainerLength.truncation(of: whole) == nil)
        let cut = try Self.write(Self.box("ftyp", 8) + Self.box("mdat", 40, declared: 108))
        #expect(ContainerLength.truncation(of: cut)?.contains("'mdat' box ends at byte 124") == true)
        // A last box of size 0 runs to the end of the file: never truncated.
        let open = try Self.write(Self.box("ftyp", 8) + Self.box("mdat", 40, declared: 0))
        #expect(ContainerLength.truncation(of: open) == nil)
    }

    @Test func riffDeclaresItsLength() throws {
        func riff(declared: Int, actual: Int) -> [UInt8] {
            Array("RIFF".utf8) + [UInt8(declared & 255), UInt8(declared >> 8 & 255), UInt8(declared >> 16 & 255), UInt8(declared >> 24 & 255)]
                + Array("AVI ".utf8) + [UInt8](repeating: 0, count: actual - 12)
        }
        #expect(ContainerLength.truncation(of: try Self.write(riff(declared: 92, actual: 100))) == nil)
        #expect(ContainerLength.truncation(of: try Self.write(riff(declared: 1000, actual: 100)))?.contains("RIFF header declares 1008") == true)
        // Anything else (a text file, a short file) is not judged.
        #expect(ContainerLength.truncation(of: try Self.write(Array("hello, not a container".utf8))) == nil)
        #expect(ContainerLength.truncation(of: try Self.write([1, 2, 3])) == nil)
    }

    @Test func anUnwritableVideoIsRefusedBeforeARun() throws {
        #expect { try VideoWriter.requireEncoder(for: "/tmp/out.webm") } throws: { "\($0)".contains("unknown container") }
        // The machine's GStreamer has the encoder and muxers `make setup` installs.
        for path in ["/tmp/a.avi", "/tmp/a.mp4", "/tmp/a.mkv"] { try VideoWriter.requireEncoder(for: path) }
        #expect(try GStreamerAPI.shared().hasElement("no_such_element_halfpipe") == false)
    }
}
