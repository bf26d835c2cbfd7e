import FoundationEssentials

/// The zip container as `.npz` files use it: stored or deflated members, zip64 when large.
/// Reads through the central directory (the local headers' sizes may be zero or zip64).
struct ZipArchive {
    struct Member {
        var name: String
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let data: Data
    let path: String
    private(set) var members: [Member] = []

    init(data: Data, path: String) throws(TensorError) {
        self.data = data
        self.path = path
        members = try readCentralDirectory()
    }

    private func fail(_ why: String) -> TensorError { .malformedFile(path: path, reason: why) }

    private func readCentralDirectory() throws(TensorError) -> [Member] {
        let r = ByteReader(data)
        // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
        let searchStart = max(0, data.count - 22 - 65535)
        var eocd = -1
        var i = data.count - 22
        while i >= searchStart { if r.u32(i) == 0x0605_4b50 { eocd = i; break }; i -= 1 }
        guard eocd >= 0 else { throw fail("not a zip/npz archive (no end-of-central-directory record)") }
        var count = Int(r.u16(eocd + 10))
        var cdSize = Int(r.u32(eocd + 12))
        var cdOffset = Int(r.u32(eocd + 16))
        // zip64: a locator just before the EOCD points at the zip64 end record. Its 64-bit fields
        // come from the file: convert them exactly and compare by subtraction, so hostile values
        // (past Int.max, or sums that overflow) are errors rather than traps.
        if eocd >= 20, r.u32(eocd - 20) == 0x0706_4b50 {
            guard let z = Int(exactly: r.u64(eocd - 20 + 8)), z <= data.count - 56, r.u32(z) == 0x0606_4b50,
                  let c = Int(exactly: r.u64(z + 32)), let s = Int(exactly: r.u64(z + 40)), let o = Int(exactly: r.u64(z + 48))
            else { throw fail("broken zip64 end record") }
            (count, cdSize, cdOffset) = (c, s, o)
        }
        guard cdOffset <= data.count, cdSize <= data.count - cdOffset else {
            throw fail("central directory lies outside the file (truncated archive?)")
        }
        var members: [Member] = []
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= data.count, r.u32(p) == 0x0201_4b50 else { throw fail("corrupt central directory entry at byte \(p)") }
            let method = r.u16(p + 10)
            let crc = r.u32(p + 16)
            var csize = Int(r.u32(p + 20)), usize = Int(r.u32(p + 24))
            let nameLen = Int(r.u16(p + 28)), extraLen = Int(r.u16(p + 30)), commentLen = Int(r.u16(p + 32))
            var offset = Int(r.u32(p + 42))
            guard p + 46 + nameLen + extraLen + commentLen <= data.count else { throw fail("central directory entry runs past the end") }
            let name = String(decoding: data[(data.startIndex + p + 46)..<(data.startIndex + p + 46 + nameLen)], as: UTF8.self)
            // zip64 extra field: the 64-bit values of whichever 32-bit fields are 0xFFFFFFFF, in order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = r.u16(e), len = Int(r.u16(e + 2))
                // A field longer than the entry's extra area used to read past the end of the file.
                guard e + 4 + len <= extraEnd else { throw fail("member \(name): extra field runs past its directory entry") }
                if id == 0x0001 {
                    var q = e + 4
                    func next() throws(TensorError) -> Int {
                        guard let v = Int(exactly: r.u64(q)) else { throw fail("member \(name): zip64 size or offset is impossible") }
                        q += 8
                        return v
                    }
                    if usize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { usize = try next() }
                    if csize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { csize = try next() }
                    if offset == 0xFFFF_FFFF, q + 8 <= e + 4 + len { offset = try next() }
                }
                e += 4 + len
            }
            members.append(Member(name: name, method: method, crc: crc, compressedSize: csize, size: usize, localHeaderOffset: offset))
            p += 46 + nameLen + extraLen + commentLen
        }
        return members
    }

    /// The uncompressed bytes of `member`, CRC-checked.
    func contents(of member: Member) throws(TensorError) -> Data {
        let r = ByteReader(data)
        let h = member.localHeaderOffset
        // Subtractions, not sums: offsets and sizes may be anything up to Int.max (zip64).
        guard h >= 0, h <= data.count - 30, r.u32(h) == 0x0403_4b50 else { throw fail("member \(member.name): bad local header") }
        let start = h + 30 + Int(r.u16(h + 26)) + Int(r.u16(h + 28))
        guard member.compressedSize >= 0, start <= data.count, member.compressedSize <= data.count - start else {
            throw fail("member \(member.name) is truncated")
        }
        let range = (data.startIndex + start)..<(data.startIndex + start + member.compressedSize)
        let body: Data
        switch member.method {
        case 0:
            guard member.compressedSize == member.size else { throw fail("member \(member.name): stored sizes disagree") }
            body = data.subdata(in: range)
        case 8:
            // Deflate expands at most 1032:1. A bigger claim is corrupt, and would otherwise allocate
            // it (up to 4 GB from a 32-bit field, unbounded from zip64) before inflating anything.
            guard member.size <= member.compressedSize * 1032 + 1024 else {
                throw fail("member \(member.name) claims \(member.size) bytes from \(member.compressedSize) deflated bytes (corrupt archive)")
            }
            body = try data[range].withUnsafeBytes { raw in
                Result { () throws(TensorError) -> Data in try Deflate.inflate(raw, expectedSize: member.size, member: "\(path):\(member.name)") }
            }.get()
        default:
            throw fail("member \(member.name) uses compression method \(member.method); only stored (0) and deflate (8) are supported")
        }
        let crc = body.withUnsafeBytes { Deflate.crc32($0) }
        guard crc == member.crc else { throw fail("member \(member.name): CRC mismatch (corrupt archive)") }
        return body
    }

    /// Builds an archive of `entries` (name, uncompressed bytes), each stored or deflated.
    static func build(_ entries: [(name: String, bytes: Data)], compressed: Bool) throws(TensorError) -> Data {
        var out = Data()
        var central = Data()
        for entry in entries {
            let crc = entry.bytes.withUnsafeBytes { Deflate.crc32($0) }
            let payload = compressed
                ? try entry.bytes.withUnsafeBytes { raw in Result { () throws(TensorError) -> Data in try Deflate.deflate(raw, member: entry.name) } }.get()
                : entry.bytes
            let offset = out.count
            let big = payload.count >= 0xFFFF_FFFF || entry.bytes.count >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
            let name = Array(entry.name.utf8)
            var localExtra = ByteWriter(), centralExtra = ByteWriter()
            if big {
                localExtra.u16(1); localExtra.u16(16); localExtra.u64(UInt64(entry.bytes.count)); localExtra.u64(UInt64(payload.count))
                centralExtra.u16(1); centralExtra.u16(24)
                centralExtra.u64(UInt64(entry.bytes.count)); centralExtra.u64(UInt64(payload.count)); centralExtra.u64(UInt64(offset))
            }
            let method: UInt16 = compressed ? 8 : 0
            let version: UInt16 = big ? 45 : 20
            var local = ByteWriter()
            local.u32(0x0403_4b50); local.u16(version); local.u16(0x0800); local.u16(method)
            local.u16(0); local.u16(0x21)  // 1980-01-01 00:00, as numpy's zipfile writes a fixed date
            local.u32(crc)
            local.u32(big ? 0xFFFF_FFFF : UInt32(payload.count)); local.u32(big ? 0xFFFF_FFFF : UInt32(entry.bytes.count))
            local.u16(UInt16(name.count)); local.u16(UInt16(localExtra.bytes.count))
            out.append(contentsOf: local.bytes); out.append(contentsOf: name); out.append(contentsOf: localExtra.bytes)
            out.append(payload)
            var c = ByteWriter()
            c.u32(0x0201_4b50); c.u16(0x0300 | version); c.u16(version); c.u16(0x0800); c.u16(method)
            c.u16(0); c.u16(0x21); c.u32(crc)
            c.u32(big ? 0xFFFF_FFFF : UInt32(payload.count)); c.u32(big ? 0xFFFF_FFFF : UInt32(entry.bytes.count))
            c.u16(UInt16(name.count)); c.u16(UInt16(centralExtra.bytes.count)); c.u16(0); c.u16(0); c.u16(0)
            c.u32(0o100644 << 16); c.u32(big ? 0xFFFF_FFFF : UInt32(offset))
            central.append(contentsOf: c.bytes); central.append(contentsOf: name); central.append(contentsOf: centralExtra.bytes)
        }
        let cdOffset = out.count
        out.append(central)
        let zip64 = cdOffset >= 0xFFFF_FFFF || entries.count >= 0xFFFF || central.count >= 0xFFFF_FFFF
        var end = ByteWriter()
        if zip64 {
            let recordOffset = out.count
            end.u32(0x0606_4b50); end.u64(44); end.u16(45); end.u16(45); end.u32(0); end.u32(0)
            end.u64(UInt64(entries.count)); end.u64(UInt64(entries.count)); end.u64(UInt64(central.count)); end.u64(UInt64(cdOffset))
            end.u32(0x0706_4b50); end.u32(0); end.u64(UInt64(recordOffset)); end.u32(1)
        }
        end.u32(0x0605_4b50); end.u16(0); end.u16(0)
        end.u16(UInt16(min(entries.count, 0xFFFF))); end.u16(UInt16(min(entries.count, 0xFFFF)))
        end.u32(UInt32(min(central.count, 0xFFFF_FFFF))); end.u32(UInt32(min(cdOffset, 0xFFFF_FFFF))); end.u16(0)
        out.append(contentsOf: end.bytes)
        return out
    }
}

/// Little-endian reads at absolute offsets (callers check bounds first).
struct ByteReader {
    let data: Data
    init(_ data: Data) { self.data = data }
    func u16(_ at: Int) -> UInt16 { UInt16(data[data.startIndex + at]) | UInt16(data[data.startIndex + at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}

/// Little-endian appends.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { u16(UInt16(v & 0xffff)); u16(UInt16(v >> 16)) }
    mutating func u64(_ v: UInt64) { u32(UInt32(v & 0xffff_ffff)); u32(UInt32(v >> 32)) }
}
