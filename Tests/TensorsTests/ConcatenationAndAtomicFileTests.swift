import Foundation
import Testing
import Tensors

@Suite struct ConcatenationTests {
    /// Every split of 0…7 rows into up to three parts, for element sizes 1, 2 and 4 bytes and
    /// trailing shapes with and without zero-sized axes: the joined tensor is the parts in order.
    @Test(arguments: [DType.uint8, .float16, .float32])
    func joinsAlongTheFirstAxisForEverySplit(_ dtype: DType) throws {
        for trailing in [[], [3], [2, 5], [0, 4]] {
            for total in 0...7 {
                for first in 0...total {
                    for second in 0...(total - first) {
                        let sizes = [first, second, total - first - second]
                        let rowBytes = trailing.reduce(1, *) * (dtype.byteCount(elements: 1) ?? 1)
                        var bytes: [UInt8] = []
                        let parts = try sizes.map { rows -> Tensor in
                            let mine = (0..<(rows * rowBytes)).map { _ in UInt8.random(in: 0...255) }
                            bytes += mine
                            return try mine.withUnsafeBytes { try Tensor(dtype: dtype, shape: try Shape([rows] + trailing), bytes: $0) }
                        }
                        let joined = try Tensor.concatenated(parts)
                        #expect(joined.shape.dimensions == [total] + trailing && joined.dtype == dtype)
                        joined.withUnsafeBytes { #expect(Array($0) == bytes) }
                    }
                }
            }
        }
    }

    @Test func refusesPartsThatDoNotStack() throws {
        let a = try Tensor(dtype: .float32, shape: [1, 3]), b = try Tensor(dtype: .float32, shape: [1, 4]), c = try Tensor(dtype: .float16, shape: [1, 3])
        #expect(throws: TensorError.self) { try Tensor.concatenated([a, b]) }
        #expect(throws: TensorError.self) { try Tensor.concatenated([a, c]) }
        #expect(throws: TensorError.self) { try Tensor.concatenated([]) }
        #expect(throws: TensorError.self) { try Tensor.concatenated([try Tensor(dtype: .float32, shape: [])]) }
    }
}

@Suite struct AtomicFileTests {
    static func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Appended pieces appear under the name only at commit; an existing file of that name is left
    /// as it was until then; nothing but the file remains in the folder.
    @Test func appearsWholeOnlyAtCommit() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("lines.jsonl").path
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
        let file = try AtomicFile(path)
        for i in 0..<100 { try file.append("line \(i)\n") }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\n")
        try file.commit()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == (0..<100).map { "line \($0)\n" }.joined())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["lines.jsonl"])
    }

    /// An abandoned file (a failed run), and one dropped without a commit, leave nothing behind.
    @Test func abandonedLeavesNothing() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try AtomicFile(dir.appendingPathComponent("a.json").path)
        try file.append("partial")
        file.abandon()
        do {
            let dropped = try AtomicFile(dir.appendingPathComponent("b.json").path)
            try dropped.append("partial")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    /// A destination in a folder that does not exist fails at once, naming the path.
    @Test func missingFolderFailsAtOnceNamingThePath() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)/out.jsonl").path
        #expect { try AtomicFile(path) } throws: { "\($0)".contains(path) }
    }
}
