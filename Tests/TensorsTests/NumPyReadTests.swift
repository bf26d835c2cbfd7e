import Foundation
import Testing
import Tensors

/// Every `.npy`/`.npz` numpy wrote (all supported dtypes, both byte orders, C and Fortran order,
/// format 1.0/2.0/3.0, 0-d, empty, odd shapes; `savez` and `savez_compressed`) reads back exactly.
@Suite struct NumPyReadTests {
    /// Compares a decoded tensor with numpy's view of the same array; returns false on a difference.
    @discardableResult
    static func expect(_ tensor: Tensor, matches e: Reference.Manifest.ArrayExpectation, _ what: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        guard tensor.dtype == DType(name: e.dtype), tensor.shape.dimensions == e.shape else {
            Issue.record("\(what): read \(tensor.dtype) \(tensor.shape.dimensions), numpy has \(e.dtype) \(e.shape)",
                         sourceLocation: sourceLocation)
            return false
        }
        if let strings = e.strings {
            let got = tensor.strings.map { $0.map { String(format: "%02x", $0) }.joined() }
            #expect(got == strings, "\(what): string elements differ (hex UTF-8)", sourceLocation: sourceLocation)
            return got == strings
        }
        let expected = try Reference.data(try #require(e.expected))
        return tensor.withUnsafeBytes { a in
            expected.withUnsafeBytes { b in
                expectSameBits(a, b, elementSize: max(1, tensor.dtype.byteSize ?? 1), "\(what): element bytes",
                               sourceLocation: sourceLocation)
            }
        }
    }

    @Test func readsEveryNumpyWrittenNPYFile() throws {
        let entries = try Reference.manifest().npy
        #expect(entries.count >= 150)
        var seen = Set<String>()
        for e in entries {
            let file = try #require(e.file)
            do {
                let tensor = try NPY.read(contentsOf: try Reference.path(file))
                try Self.expect(tensor, matches: e, file)
                seen.insert(e.dtype)
            } catch let error as TensorError {
                Issue.record("\(file): \(error)")
            }
        }
        let all: Set = ["float16", "float", "double", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                        "uint64", "bool", "complex64", "complex128", "bfloat16", "string"]
        #expect(seen == all)
        #expect(Set(entries.compactMap(\.version).map { $0.first ?? 0 }) == [1, 2, 3])
        #expect(entries.contains { $0.fortranOrder == true && $0.shape.count >= 2 })
    }

    /// NPY.decode of the bytes is the same as NPY.read of the file.
    @Test func decodeOfBytesEqualsReadOfFile() throws {
        for e in try Reference.manifest().npy.prefix(40) {
            let path = try Reference.path(try #require(e.file))
            let fromFile = try NPY.read(contentsOf: path)
            let fromBytes = try NPY.decode(try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
            #expect(fromFile.bitwiseEquals(fromBytes), "\(path)")
        }
    }

    @Test func readsEveryNumpyWrittenNPZArchive() throws {
        let archives = try Reference.manifest().npz
        #expect(archives.contains { $0.compressed } && archives.contains { !$0.compressed })
        for archive in archives {
            let arrays = try NPZ.read(contentsOf: try Reference.path(archive.file))
            #expect(arrays.map(\.name) == archive.members.map { $0.name ?? "?" }, "\(archive.file): member names and order")
            for (member, (name, tensor)) in zip(archive.members, arrays) {
                try Self.expect(tensor, matches: member, "\(archive.file):\(name)")
            }
        }
    }

    /// Files that are valid for numpy but hold what HalfPipe cannot represent: a clear error, no crash.
    @Test func rejectsNumpyFilesItCannotRepresent() throws {
        let bad = try Reference.manifest().bad
        #expect(bad.count >= 7)
        for b in bad {
            let path = try Reference.path(b.file)
            let error = #expect(throws: TensorError.self, "\(b.file) (\(b.why))") {
                if b.file.hasSuffix(".npz") { _ = try NPZ.read(contentsOf: path) } else { _ = try NPY.read(contentsOf: path) }
            }
            if let error { #expect("\(error)".contains(b.file.split(separator: "/").last!), "error names the file: \(error)") }
        }
    }

    /// numpy strips only trailing NULs from fixed-width strings; one in the middle is data.
    @Test func keepsNULsInsideFixedWidthStrings() throws {
        let e = try #require(try Reference.manifest().npy.first { $0.file == "npy/S7_c_v1.npy" })
        let tensor = try NPY.read(contentsOf: try Reference.path("npy/S7_c_v1.npy"))
        #expect(tensor.strings.contains(Array("a\0b".utf8)))
        #expect(tensor.strings.contains(Array("\0mid".utf8)))
        try Self.expect(tensor, matches: e, "S7_c_v1")
    }

    @Test func missingFileIsAnIOError() {
        let path = "/nonexistent/halfpipe/\(UUID().uuidString).npy"
        #expect(throws: TensorError.self) { try NPY.read(contentsOf: path) }
        #expect(throws: TensorError.self) { try NPZ.read(contentsOf: path) }
    }
}
