/// The header of a `.npy` file: magic, version, and the Python dict literal describing the array.
///
/// Format (numpy's `format.py`): `\x93NUMPY`, major, minor, header length (uint16 for 1.0, uint32
/// for 2.0 and 3.0), then `{'descr': …, 'fortran_order': …, 'shape': (…), }` padded with spaces and
/// a newline so the data starts on a 64-byte boundary. Version 3.0 only allows UTF-8 in the dict.
struct NPYHeader: Equatable {
    static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY
    var descriptor: NPYDescriptor
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses the header at the start of `bytes`; returns it and the offset where the data starts.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(TensorError) -> (NPYHeader, Int) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw .malformedFile(path: path, reason: "not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let lengthSize: Int
        switch major {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw .malformedFile(path: path, reason: "unknown .npy format version \(major).\(bytes[7])")
        }
        guard bytes.count >= 8 + lengthSize else { throw .malformedFile(path: path, reason: "truncated .npy header") }
        var length = 0
        for i in 0..<lengthSize { length |= Int(bytes[8 + i]) << (8 * i) }
        let start = 8 + lengthSize
        guard bytes.count >= start + length else {
            throw .malformedFile(path: path, reason: "truncated .npy header (\(length) bytes announced, \(bytes.count - start) present)")
        }
        let raw = Array(bytes[start..<(start + length)])
        let text = major == 3 ? String(decoding: raw, as: UTF8.self) : String(raw.map { Character(Unicode.Scalar($0)) })
        return (try parseDict(text, path: path), start + length)
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private static func parseDict(_ text: String, path: String) throws(TensorError) -> NPYHeader {
        func fail(_ why: String) -> TensorError { .malformedFile(path: path, reason: "bad .npy header (\(why)): \(text.prefix(120))") }
        guard let descr = stringValue(of: "descr", in: text) else { throw fail("no 'descr' string") }
        guard let fortran = boolValue(of: "fortran_order", in: text) else { throw fail("no 'fortran_order'") }
        guard let shapeText = tupleValue(of: "shape", in: text) else { throw fail("no 'shape' tuple") }
        var shape: [Int] = []
        for part in shapeText.split(separator: ",") {
            let trimmed = part.strippingCharacters(" \t\nL")
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed), d >= 0 else { throw fail("dimension '\(trimmed)'") }
            shape.append(d)
        }
        return NPYHeader(descriptor: try NPYDescriptor(parsing: descr, where: path), fortranOrder: fortran, shape: shape)
    }

    private static func valueStart(of key: String, in text: String) -> Substring? {
        for quote in ["'", "\""] {
            if let end = text.endOfFirstOccurrence(of: quote + key + quote) {
                var rest = text[end...].drop { $0 == " " }
                guard rest.first == ":" else { continue }
                rest = rest.dropFirst().drop { $0 == " " }
                return rest
            }
        }
        return nil
    }

    private static func stringValue(of key: String, in text: String) -> String? {
        guard let rest = valueStart(of: key, in: text), let q = rest.first, q == "'" || q == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: q) else { return nil }
        return String(body[..<end])
    }

    private static func boolValue(of key: String, in text: String) -> Bool? {
        guard let rest = valueStart(of: key, in: text) else { return nil }
        if rest.hasPrefix("True") { return true }
        if rest.hasPrefix("False") { return false }
        return nil
    }

    private static func tupleValue(of key: String, in text: String) -> String? {
        guard let rest = valueStart(of: key, in: text), rest.first == "(", let end = rest.firstIndex(of: ")") else { return nil }
        return String(rest[rest.index(after: rest.startIndex)..<end])
    }

    /// The header bytes numpy would write: version 1.0 unless the dict needs more than 65535 bytes.
    func encoded() -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ")
        let tuple = shape.count == 1 ? "(\(dims),)" : "(\(dims))"
        let dict = "{'descr': '\(descriptor.string)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(tuple), }"
        var body = Array(dict.utf8)
        // Version 1.0 stores the padded length in 16 bits; checking the unpadded length let padding
        // push it past 65535 and trap in UInt8(n >> 8).
        let v1 = (10 + body.count + 1 + 63) / 64 * 64 - 10 <= 65535
        let prefix = v1 ? 10 : 12
        let total = ((prefix + body.count + 1 + 63) / 64) * 64
        body += [UInt8](repeating: 0x20, count: total - prefix - body.count - 1) + [0x0a]
        var out = NPYHeader.magic + [v1 ? 1 : 2, 0]
        let n = body.count
        out += v1 ? [UInt8(n & 0xff), UInt8(n >> 8)] : (0..<4).map { UInt8((n >> (8 * $0)) & 0xff) }
        return out + body
    }
}

extension String {
    /// The index just past the first occurrence of `needle`, if any.
    func endOfFirstOccurrence(of needle: String) -> String.Index? {
        let n = Array(needle)
        var i = startIndex
        while i != endIndex {
            var j = i, k = 0
            while k < n.count, j != endIndex, self[j] == n[k] { j = index(after: j); k += 1 }
            if k == n.count { return j }
            i = index(after: i)
        }
        return nil
    }
}

extension StringProtocol {
    func strippingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
