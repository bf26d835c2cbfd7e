import Foundation
import Testing
import Tensors

/// The numpy/ml_dtypes-made reference files (scripts/make-reference-data.py) and helpers to
/// compare against them bit for bit. Missing data fails the test with what to run; never a skip.
enum Reference {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `.cache/reference` of the package, or `$HALFPIPE_REFERENCE`.
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["HALFPIPE_REFERENCE"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.appendingPathComponent(".cache/reference")
    }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "numpy reference data missing: \(path) — run `make test`, or "
                + "`.venv/bin/python scripts/make-reference-data.py .cache/reference` in the package root "
                + "(HALFPIPE_REFERENCE, when set, names another folder)"
        }
    }

    struct Manifest: Decodable, Sendable {
        struct Conversion: Decodable, Sendable {
            var name, from, to, input, output: String
            var count: Int
            var scaleBits: UInt32?
            var biasBits: UInt32?
            var scale: Float { Float(bitPattern: scaleBits ?? Float(1).bitPattern) }
            var bias: Float { Float(bitPattern: biasBits ?? 0) }
        }
        /// One array as numpy sees it: our dtype name, shape, C-order little-endian bytes (or strings).
        struct ArrayExpectation: Decodable, Sendable {
            var dtype: String
            var shape: [Int]
            var name: String?
            var expected: String?
            var strings: [String]?
            var file: String?
            var fortranOrder: Bool?
            var version: [Int]?
        }
        struct Archive: Decodable, Sendable {
            var file: String
            var compressed: Bool
            var members: [ArrayExpectation]
        }
        struct Bad: Decodable, Sendable {
            var file, why: String
        }
        var conversions: [Conversion]
        var npy: [ArrayExpectation]
        var npz: [Archive]
        var bad: [Bad]

        func conversion(_ name: String) throws -> Conversion {
            guard let c = conversions.first(where: { $0.name == name }) else {
                throw Missing(path: "conversion '\(name)' in \(Reference.directory.path)/manifest.json (stale? rerun the script)")
            }
            return c
        }
    }

    /// Parsed once per test process.
    private static let loaded: Result<Manifest, any Error> = Result {
        let url = directory.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        return try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
    }

    static func manifest() throws -> Manifest { try loaded.get() }

    /// The absolute path of a file of the reference folder (which must exist).
    static func path(_ relative: String) throws -> String {
        let path = directory.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: path) else { throw Missing(path: path) }
        return path
    }

    static func data(_ relative: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path(relative))) }

    /// A raw little-endian file as an array of `T` (no alignment assumption on the file bytes).
    static func array<T: FixedWidthInteger>(_ relative: String, as type: T.Type = T.self) throws -> [T] {
        let bytes = try data(relative)
        precondition(bytes.count % MemoryLayout<T>.size == 0, "\(relative) is not a whole number of \(T.self)")
        return [T](unsafeUninitializedCapacity: bytes.count / MemoryLayout<T>.size) { buf, n in
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
            n = bytes.count / MemoryLayout<T>.size
        }
    }
}

/// Records one issue naming the first few differing elements (bit patterns in hex), or none.
/// memcmp first: the happy path costs nothing even in debug builds.
@discardableResult
func expectSameBits(
    _ actual: UnsafeRawBufferPointer, _ expected: UnsafeRawBufferPointer, elementSize: Int,
    input: ((Int) -> String)? = nil, _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
    if actual.count == expected.count, actual.count == 0 || memcmp(actual.baseAddress!, expected.baseAddress!, actual.count) == 0 {
        return true
    }
    guard actual.count == expected.count else {
        Issue.record("\(what()): \(actual.count) bytes, expected \(expected.count)", sourceLocation: sourceLocation)
        return false
    }
    func hex(_ p: UnsafeRawBufferPointer, _ i: Int) -> String {
        var v: UInt64 = 0
        for b in (0..<elementSize).reversed() { v = v << 8 | UInt64(p[i * elementSize + b]) }
        return "0x" + String(v, radix: 16)
    }
    var lines: [String] = []
    var total = 0
    for i in 0..<(actual.count / elementSize)
    where memcmp(actual.baseAddress! + i * elementSize, expected.baseAddress! + i * elementSize, elementSize) != 0 {
        total += 1
        if lines.count < 8 { lines.append("  [\(i)] input \(input?(i) ?? "?"): got \(hex(actual, i)), numpy \(hex(expected, i))") }
    }
    let details = lines.joined(separator: "\n")
    Issue.record("\(what()): \(total) elements differ from numpy\n\(details)", sourceLocation: sourceLocation)
    return false
}

func expectSameBits<T, U>(_ actual: [T], _ expected: [U], input: ((Int) -> String)? = nil,
                          _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
    actual.withUnsafeBytes { a in
        expected.withUnsafeBytes { e in
            _ = expectSameBits(a, e, elementSize: MemoryLayout<T>.stride, input: input, what(), sourceLocation: sourceLocation)
        }
    }
}

func hexInput<T: BinaryInteger>(_ values: [T]) -> (Int) -> String { { "0x" + String(values[$0], radix: 16) } }

/// A 64-byte aligned scratch buffer, freed when it goes out of scope.
final class AlignedBuffer {
    let raw: UnsafeMutableRawBufferPointer
    init(bytes: Int) {
        raw = .allocate(byteCount: max(bytes, 1), alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0xA5)
    }
    deinit { raw.deallocate() }
}
