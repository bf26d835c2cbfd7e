import Foundation
import Testing
import Tensors

/// Broken `.npy`/`.npz` input gives a `TensorError`, never a crash: every truncation, bad magic,
/// unknown versions, lying headers, structured dtypes, corrupt deflate, CRC mismatches, hostile
/// zip fields (zip64 values past Int.max, extra fields running off the end, absurd sizes).
@Suite struct MalformedFileTests {
    /// A `.npy` image with the given header dict, padded as numpy pads it.
    static func npy(_ dict: String, major: UInt8 = 1, minor: UInt8 = 0, body: [UInt8] = []) -> Data {
        let prefix = major == 1 ? 10 : 12
        var header = Array(dict.utf8)
        let total = (prefix + header.count + 1 + 63) / 64 * 64
        header += [UInt8](repeating: 0x20, count: total - prefix - header.count - 1) + [0x0A]
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, minor]
        let n = header.count
        out += (0..<(major == 1 ? 2 : 4)).map { UInt8((n >> (8 * $0)) & 0xFF) }
        return Data(out + header + body)
    }

    static func expectRejected(_ data: Data, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: TensorError.self, "\(what)", sourceLocation: sourceLocation) { try NPY.decode(data, path: "test.npy") }
    }

    @Test func everyTruncationOfNumpyFilesIsAnError() throws {
        for file in ["npy/f4_c_v1.npy", "npy/U5_v3.npy", "npy/c16_big_fortran.npy", "npy/bf16_v2.npy"] {
            let data = try Reference.data(file)
            for n in 0..<data.count { Self.expectRejected(data.prefix(n), "\(file) cut to \(n) of \(data.count) bytes") }
        }
    }

    @Test func badMagicAndUnknownVersionsAreErrors() throws {
        let good = try Reference.data("npy/f4_c_v1.npy")
        for i in 0..<6 {
            var bad = good
            bad[i] ^= 0xFF
            Self.expectRejected(bad, "magic byte \(i) flipped")
        }
        for major: UInt8 in [0, 4, 9, 255] {
            var bad = good
            bad[6] = major
            Self.expectRejected(bad, "version \(major).0")
        }
        let ok = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", major: 2, body: [UInt8](repeating: 0, count: 8))
        #expect(try NPY.decode(ok, path: "v2").shape == [2])
    }

    @Test func lyingOrBrokenHeadersAreErrors() {
        let body = [UInt8](repeating: 0, count: 64)
        let dicts = [
            "{'fortran_order': False, 'shape': (2,), }",                                  // no descr
            "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }",  // structured
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",                   // object
            "{'descr': '<f4', 'shape': (2,), }",                                          // no fortran_order
            "{'descr': '<f4', 'fortran_order': False, }",                                 // no shape
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (two,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, ",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",  // overflows Int
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }",     // far more than present
            "{'descr': '<f3', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<x4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<V1', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (17,), }",                // 68 bytes needed, 64 present
            "",
            "\u{1}\u{2}\u{3}",
        ]
        for dict in dicts {
            Self.expectRejected(Self.npy(dict, body: body), dict)
            Self.expectRejected(Self.npy(dict, major: 3, body: body), "v3 " + dict)
        }
        var lying = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", body: body)
        lying[8] = 0xFF; lying[9] = 0xFF  // header length past the end
        Self.expectRejected(lying, "header length past the end")
    }

    // MARK: .npz

    static func readNPZ(_ bytes: Data, in dir: URL, _ name: String = "t.npz") throws -> [(name: String, tensor: Tensor)] {
        let path = dir.appendingPathComponent(name).path
        // Replaced by rename, never rewritten in place: FileBytes maps files it reads.
        try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        return try NPZ.read(contentsOf: path)
    }

    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-tensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(dir)
    }

    /// A small stored archive made by HalfPipe and a small deflated one made by numpy.
    static func smallArchives(in dir: URL) throws -> [(String, Data)] {
        let stored = dir.appendingPathComponent("stored.npz").path
        try NPZ.write([("arr", try Tensor(shape: [10], elements: (0..<10).map(Int16.init)))], to: stored)
        return [("stored", try Data(contentsOf: URL(fileURLWithPath: stored))),
                ("numpy deflated", try Reference.data("npz/single_compressed.npz"))]
    }

    /// Where the member data of the first local header starts.
    static func payloadStart(_ zip: Data) -> Int {
        30 + Int(zip[26]) + Int(zip[27]) << 8 + Int(zip[28]) + Int(zip[29]) << 8
    }

    @Test func everyTruncationOfAnArchiveIsAnError() throws {
        try Self.withTemporaryDirectory { dir in
            for (label, zip) in try Self.smallArchives(in: dir) {
                #expect(try Self.readNPZ(zip, in: dir).count == 1, "\(label) reads whole")
                for n in 0..<zip.count {
                    #expect(throws: TensorError.self, "\(label) cut to \(n) bytes") { try Self.readNPZ(zip.prefix(n), in: dir) }
                }
            }
        }
    }

    @Test func corruptMembersAreErrors() throws {
        try Self.withTemporaryDirectory { dir in
            let archives = try Self.smallArchives(in: dir)
            var stored = archives[0].1
            stored[Self.payloadStart(stored) + 130] ^= 0x01  // one data bit of the .npy body
            let crc = #expect(throws: TensorError.self) { try Self.readNPZ(stored, in: dir) }
            #expect("\(crc.map { "\($0)" } ?? "")".contains("CRC"), "a flipped data bit is reported as a CRC mismatch")

            let deflated = archives[1].1
            let start = Self.payloadStart(deflated)
            for (offset, value) in [(0, UInt8(0xFF)), (1, 0x00), (3, 0x5A), (8, 0xFF)] {
                var bad = deflated
                bad[start + offset] = value
                #expect(throws: TensorError.self, "deflate byte \(offset) set to \(value)") { try Self.readNPZ(bad, in: dir) }
            }
            #expect(throws: TensorError.self) { try Self.readNPZ(try Reference.data("bad/not-an-npz.npz"), in: dir) }
        }
    }

    /// Each byte of both archives set to 0x00, 0xFF and flipped in its top bit: the reader may
    /// succeed or throw, but must not crash or allocate absurdly.
    @Test func singleByteDamageNeverCrashes() throws {
        try Self.withTemporaryDirectory { dir in
            for (_, zip) in try Self.smallArchives(in: dir) {
                for i in 0..<zip.count {
                    let changes: [(UInt8) -> UInt8] = [{ _ in 0 }, { _ in 0xFF }, { $0 ^ 0x80 }]
                    for change in changes {
                        var bad = zip
                        bad[i] = change(bad[i])
                        _ = try? Self.readNPZ(bad, in: dir)
                    }
                }
            }
        }
    }

    @Test func hostileZipFieldsAreErrors() throws {
        try Self.withTemporaryDirectory { dir in
            let npy = Array(Self.npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", body: [1, 2, 3]))
            let plain = try Self.readNPZ(HandZip(payload: npy).bytes(), in: dir)
            let values = try plain.first?.tensor.elements(as: UInt8.self)
            #expect(values == [1, 2, 3], "the hand-built archive itself is valid")
            var cases: [(String, HandZip)] = []
            var z = HandZip(payload: npy)
            z.beforeEOCD = Zip64Locator(offset: 0xFFFF_FFFF_FFFF_FFF0).bytes
            cases.append(("zip64 locator offset past Int.max", z))
            z = HandZip(payload: npy)
            z.beforeEOCD = Zip64Locator(offset: 0x7FFF_FFFF_FFFF_FFF0).bytes
            cases.append(("zip64 locator offset past the end", z))
            z = HandZip(payload: npy)
            z.csize = 0xFFFF_FFFF; z.usize = 0xFFFF_FFFF; z.offset = 0xFFFF_FFFF
            z.centralExtra = [1, 0, 24, 0]  // a zip64 field announcing 24 bytes that are not there
            cases.append(("zip64 extra field running past the end", z))
            for value: UInt64 in [0xFFFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000] {
                z = HandZip(payload: npy)
                z.usize = 0xFFFF_FFFF; z.csize = 0xFFFF_FFFF
                z.centralExtra = [1, 0, 16, 0] + le(value, 8) + le(value, 8)
                cases.append(("zip64 sizes \(value)", z))
                z = HandZip(payload: npy)
                z.offset = 0xFFFF_FFFF
                z.centralExtra = [1, 0, 8, 0] + le(value, 8)
                cases.append(("zip64 offset \(value)", z))
            }
            z = HandZip(payload: npy); z.method = 12
            cases.append(("bzip2 method", z))
            z = HandZip(payload: npy); z.usize = 5
            cases.append(("stored sizes disagree", z))
            z = HandZip(payload: [0x03, 0x00]); z.method = 8; z.usize = 0xFFFF_FF00; z.crc = 0
            cases.append(("4 GB announced for a 2-byte deflate stream", z))
            z = HandZip(payload: npy); z.count = 0xFFFF
            cases.append(("65535 members announced, one present", z))
            z = HandZip(payload: npy); z.cdOffset = 0xFFFF_FFF0
            cases.append(("central directory offset past the end", z))
            for (label, zip) in cases {
                #expect(throws: TensorError.self, "\(label)") { try Self.readNPZ(zip.bytes(), in: dir) }
            }
        }
    }
}

/// A one-member zip built by hand, with every field under the test's control.
struct HandZip {
    var name = Array("a.npy".utf8)
    var payload: [UInt8]
    var method: UInt16 = 0
    var crc: UInt32?
    var csize: UInt32?
    var usize: UInt32?
    var offset: UInt32 = 0
    var centralExtra: [UInt8] = []
    var count: UInt16 = 1
    var cdOffset: UInt32?
    var beforeEOCD: [UInt8] = []

    func bytes() -> Data {
        let crc = self.crc ?? crc32(payload)
        let cs = csize ?? UInt32(payload.count), us = usize ?? UInt32(payload.count)
        var local: [UInt8] = le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + le(UInt64(method), 2) + le(0, 4)
        local += le(UInt64(crc), 4) + le(UInt64(cs), 4) + le(UInt64(us), 4) + le(UInt64(name.count), 2) + le(0, 2) + name + payload
        var central: [UInt8] = le(0x0201_4B50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(UInt64(method), 2) + le(0, 4)
        central += le(UInt64(crc), 4) + le(UInt64(cs), 4) + le(UInt64(us), 4) + le(UInt64(name.count), 2)
        central += le(UInt64(centralExtra.count), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(UInt64(offset), 4)
        central += name + centralExtra
        var eocd: [UInt8] = le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(UInt64(count), 2) + le(UInt64(count), 2)
        eocd += le(UInt64(central.count), 4) + le(UInt64(cdOffset ?? UInt32(local.count)), 4) + le(0, 2)
        return Data(local + central + beforeEOCD + eocd)
    }
}

/// The zip64 end-of-central-directory locator, pointing wherever the test says.
struct Zip64Locator {
    var offset: UInt64
    var bytes: [UInt8] { le(0x0706_4B50, 4) + le(0, 4) + le(offset, 8) + le(1, 4) }
}

func le(_ value: UInt64, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8((value >> (8 * UInt64($0))) & 0xFF) } }

/// zip's CRC-32 (reflected polynomial 0xEDB88320), bit by bit: tests only hash a few bytes.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
