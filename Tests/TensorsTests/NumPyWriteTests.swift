import Foundation
import TestSupport
import Testing
import Tensors

/// The other direction: HalfPipe writes `.npy` (C and Fortran order) and `.npz` (stored and
/// deflated) for every dtype, and numpy itself (scripts/check-numpy-files.py) must read back
/// exactly what was meant. HalfPipe's own reader must agree too.
@Suite struct NumPyWriteTests {
    /// The header descr numpy.save writes for each type (bfloat16: '<V2', as for ml_dtypes arrays).
    static let descr: [DType: String] = [
        .float32: "<f4", .float16: "<f2", .bfloat16: "<V2", .float64: "<f8", .int8: "|i1", .int16: "<i2",
        .int32: "<i4", .int64: "<i8", .uint8: "|u1", .uint16: "<u2", .uint32: "<u4", .uint64: "<u8",
        .bool: "|b1", .complex64: "<c8", .complex128: "<c16",
    ]

    /// Deterministic bytes covering every bit pattern (NaN payloads, negative zeros, extremes).
    struct Bits {
        var state: UInt64
        mutating func next() -> UInt8 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    static let stringPool: [[UInt8]] = ["", "a", "a\0b", "\0lead", "é", "日本語", "🎉", "longer string here"].map { Array($0.utf8) }
        + [[0xFF, 0xFE, 0x80]]  // ONNX strings are bytes, not necessarily UTF-8

    static func sample(_ dtype: DType, _ dims: [Int], seed: UInt64) throws -> Tensor {
        let shape = try Shape(dims)
        if dtype == .string {
            return try Tensor(shape: shape, strings: (0..<shape.elementCount).map { stringPool[($0 + Int(seed)) % stringPool.count] })
        }
        var bits = Bits(state: seed | 1)
        var bytes = (0..<(shape.elementCount * dtype.byteSize!)).map { _ in bits.next() }
        if dtype == .bool { bytes = bytes.map { $0 & 1 } }
        return try bytes.withUnsafeBytes { try Tensor(dtype: dtype, shape: shape, bytes: $0) }
    }

    static func hex<C: Collection<UInt8>>(_ bytes: C) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// What numpy must find: dtype string, shape, and C-order bytes (or each string's bytes).
    static func expectation(_ t: Tensor) -> [String: Any] {
        var e: [String: Any] = ["shape": t.shape.dimensions]
        if t.dtype == .string {
            e["descr"] = "|S\(max(1, t.strings.map(\.count).max() ?? 1))"
            e["strings"] = t.strings.map { hex($0) }
        } else {
            e["descr"] = descr[t.dtype]!
            e["bytes"] = t.withUnsafeBytes { hex($0) }
        }
        return e
    }

    static let writable: [DType] = Array(descr.keys).sorted { $0.rawValue < $1.rawValue } + [.string]

    @Test func numpyReadsEverythingHalfPipeWrites() throws {
        try MalformedFileTests.withTemporaryDirectory { dir in
            var npy: [[String: Any]] = []
            var written: [(String, Tensor)] = []
            for (i, dtype) in Self.writable.enumerated() {
                let variants: [(String, [Int], Bool)] = [("c", [2, 3, 4], false), ("f", [3, 5, 2], true), ("scalar", [], false),
                                                         ("empty", [3, 0, 2], false), ("empty_f", [0, 4], true), ("vec", [7], false),
                                                         ("f_odd", [7, 1, 3, 1], true)]
                for (j, (tag, dims, fortran)) in variants.enumerated() {
                    let t = try Self.sample(dtype, dims, seed: UInt64(i * 100 + j))
                    let name = "\(dtype.name)_\(tag).npy"
                    try NPY.write(t, to: dir.appendingPathComponent(name).path, fortranOrder: fortran)
                    npy.append(Self.expectation(t).merging(["file": name, "fortran": fortran]) { a, _ in a })
                    written.append((name, t))
                }
            }
            var npz: [[String: Any]] = []
            for compressed in [false, true] {
                var arrays: [(name: String, tensor: Tensor)] = try Self.writable.enumerated().map {
                    ($1.name, try Self.sample($1, [3, 4], seed: UInt64(7000 + $0)))
                }
                arrays += [("scalar", try Self.sample(.int64, [], seed: 1)), ("empty", try Self.sample(.float32, [0, 3], seed: 2)),
                           ("group/weight", try Self.sample(.float16, [5, 2], seed: 3)),
                           ("ramp", try Tensor(shape: [100_000], elements: (0..<100_000).map { Float($0 % 251) }))]
                let file = compressed ? "compressed.npz" : "stored.npz"
                try NPZ.write(arrays, to: dir.appendingPathComponent(file).path, compressed: compressed)
                npz.append(["file": file, "compressed": compressed,
                            "members": arrays.map { Self.expectation($0.tensor).merging(["name": $0.name]) { a, _ in a } }])
                // HalfPipe reads its own archive back unchanged, names in order.
                let back = try NPZ.read(contentsOf: dir.appendingPathComponent(file).path)
                #expect(back.map(\.name) == arrays.map(\.name))
                for (a, b) in zip(arrays, back) { #expect(a.tensor.bitwiseEquals(b.tensor), "\(file):\(a.name) round trip") }
            }
            for (name, t) in written {
                #expect(try NPY.read(contentsOf: dir.appendingPathComponent(name).path).bitwiseEquals(t), "\(name) round trip")
            }
            let spec = try JSONSerialization.data(withJSONObject: ["npy": npy, "npz": npz], options: [.prettyPrinted, .sortedKeys])
            try spec.write(to: dir.appendingPathComponent("expectations.json"))
            let (status, output) = try runPython("check-numpy-files.py", [dir.path])
            #expect(status == 0, "numpy disagrees with what HalfPipe wrote:\n\(output)")
        }
    }

    /// The header grows past version 1.0's 65,535 bytes only for absurd ranks; at the boundary the
    /// writer must switch to 2.0 (not overflow the 16-bit length) and the reader must follow.
    @Test func headerLengthBoundaryBetweenVersions1And2() throws {
        for rank in 21_818...21_832 {
            let t = try Tensor(dtype: .uint8, shape: Shape([Int](repeating: 1, count: rank)))
            let data = try NPY.encode(t)
            let headerEnd = data[6] == 1 ? 10 + Int(data[8]) + Int(data[9]) << 8
                : 12 + Int(data[8]) + Int(data[9]) << 8 + Int(data[10]) << 16
            #expect(headerEnd % 64 == 0, "rank \(rank): data starts at \(headerEnd)")
            #expect(try NPY.decode(data, path: "rank\(rank)").shape == t.shape)
        }
    }

    @Test func writingUnrepresentableTypesThrows() throws {
        for dtype in [DType.float8e4m3fn, .int4, .uint4, .float4e2m1] {
            let t = try Tensor(dtype: dtype, shape: [4])
            #expect(throws: TensorError.self, "\(dtype)") { try NPY.encode(t) }
        }
        let t = try Tensor(shape: [1], elements: [Float(1)])
        #expect(throws: TensorError.self) { try NPZ.write([("a", t), ("a", t)], to: "/tmp/never-written.npz") }
        #expect(throws: TensorError.self) { try NPY.write(t, to: "/nonexistent-dir/\(UUID().uuidString)/x.npy") }
        let longName = String(repeating: "n", count: 70_000)
        #expect(throws: TensorError.self) { try NPZ.write([(longName, t)], to: "/tmp/never-written-\(UUID().uuidString).npz") }
    }

    /// The checker must be able to fail: one wrong byte in an expectation is reported.
    @Test func numpyCheckerCatchesADifference() throws {
        try MalformedFileTests.withTemporaryDirectory { dir in
            let t = try Tensor(shape: [2, 2], elements: [1, 2, 3, 4] as [Int16])
            try NPY.write(t, to: dir.appendingPathComponent("x.npy").path, fortranOrder: true)
            var e = Self.expectation(t)
            e["bytes"] = "0100020003000500"
            let spec = try JSONSerialization.data(withJSONObject: ["npy": [e.merging(["file": "x.npy", "fortran": true]) { a, _ in a }]])
            try spec.write(to: dir.appendingPathComponent("expectations.json"))
            let (status, output) = try runPython("check-numpy-files.py", [dir.path])
            #expect(status == 1 && output.contains("x.npy: 1 elements differ"), "\(output)")
        }
    }
}

/// Runs a script of scripts/ with the project's venv Python; returns (exit status, output).
func runPython(_ script: String, _ arguments: [String]) throws -> (Int32, String) {
    let (status, output) = try TestMaterial.runPython(script, arguments)
    return (status, output)
}
