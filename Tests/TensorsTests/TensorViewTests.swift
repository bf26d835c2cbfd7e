import Testing
import Tensors

/// Views (`reshaped`, `slice`) share storage; a write copies first when storage is shared, so
/// every tensor behaves as a value. String tensors keep their elements as byte strings.
@Suite struct TensorViewTests {
    static func address(_ t: Tensor) -> UnsafeRawPointer? { t.withUnsafeBytes { $0.baseAddress } }

    static func iota(_ dims: [Int]) throws -> Tensor {
        let shape = try Shape(dims)
        return try Tensor(shape: shape, elements: (0..<shape.elementCount).map(Int32.init))
    }

    @Test func reshapeSharesStorage() throws {
        let t = try Self.iota([2, 3, 4])
        let r = try t.reshaped([6, 4])
        #expect(Self.address(r) == Self.address(t))
        #expect(r.shape == [6, 4])
        #expect(try r.elements(as: Int32.self) == t.elements(as: Int32.self))
        #expect(throws: TensorError.self) { try t.reshaped([5, 5]) }
        #expect(throws: TensorError.self) { try t.reshaped([]) }  // 24 elements cannot be a scalar
    }

    @Test func sliceSharesStorageAtAnOffset() throws {
        let t = try Self.iota([4, 3])
        let s = try t.slice(1..<3)
        #expect(s.shape == [2, 3])
        #expect(Self.address(s) == Self.address(t).map { $0 + 3 * 4 })
        #expect(try s.elements(as: Int32.self) == [3, 4, 5, 6, 7, 8])
        #expect(try t.slice(2..<2).elementCount == 0)
        #expect(try t.slice(0..<4).bitwiseEquals(t))
        #expect(throws: TensorError.self) { try t.slice(3..<5) }
        #expect(throws: TensorError.self) { try t.slice(-1..<1) }
        #expect(throws: TensorError.self) { try Tensor(shape: [], elements: [Int32(1)]).slice(0..<1) }
        #expect(throws: TensorError.self) { try Tensor(dtype: .int4, shape: [4, 2]).slice(0..<1) }
    }

    @Test func writesCopyWhenStorageIsShared() throws {
        let original = try Self.iota([4, 3])
        var copy = original
        copy.withUnsafeMutableBufferPointer(as: Int32.self) { $0[0] = 100 }
        #expect(try original.elements(as: Int32.self)[0] == 0)
        #expect(try copy.elements(as: Int32.self)[0] == 100)
        #expect(Self.address(copy) != Self.address(original))

        var row = try original.slice(2..<3)
        row.withUnsafeMutableBufferPointer(as: Int32.self) { $0[1] = -1 }
        #expect(try row.elements(as: Int32.self) == [6, -1, 8])
        #expect(try original.elements(as: Int32.self)[7] == 7)

        var flat = try original.reshaped([12])
        flat.withUnsafeMutableBytes { $0[0] = 42 }
        #expect(try original.elements(as: Int32.self)[0] == 0)
        #expect(try flat.elements(as: Int32.self)[0] == 42)
    }

    @Test func aUniqueTensorIsWrittenInPlace() throws {
        var t = try Self.iota([16])
        let before = Self.address(t)
        t.withUnsafeMutableBufferPointer(as: Int32.self) { $0[15] = 7 }
        #expect(Self.address(t) == before)
        #expect(try t.elements(as: Int32.self).last == 7)
    }

    @Test func elementsAreTypeChecked() throws {
        let t = try Self.iota([3])
        #expect(throws: TensorError.dtypeMismatch(expected: "float", actual: .int32)) { try t.elements(as: Float.self) }
        #expect(throws: TensorError.self) { try Tensor(shape: [2, 2], elements: [1, 2, 3] as [Float]) }
        let bytes: [UInt8] = [1, 2, 3]
        #expect(throws: TensorError.self) { try bytes.withUnsafeBytes { try Tensor(dtype: .float32, shape: [1], bytes: $0) } }
        #expect(throws: TensorError.self) { try bytes.withUnsafeBytes { try Tensor(dtype: .string, shape: [3], bytes: $0) } }
        let zeros = try Tensor(dtype: .float64, shape: [5])
        #expect(try zeros.elements(as: Double.self) == [0, 0, 0, 0, 0])
        let h = try Tensor(shape: [2], elements: [Float16(1.5), Float16(-2)])
        #expect(h.dtype == .float16 && h.byteCount == 4)
        let b = try Tensor(shape: [1], elements: [BFloat16(3.0)])
        #expect(b.dtype == .bfloat16)
        #expect(try b.floatValues() == [3])
    }

    @Test func stringTensors() throws {
        let words: [[UInt8]] = ["a", "", "bc", "日本", "x\0y", "z"].map { Array($0.utf8) }
        let t = try Tensor(shape: [3, 2], strings: words)
        #expect(t.dtype == .string && t.elementCount == 6 && t.byteCount == 0)
        #expect(t.withUnsafeBytes { $0.count } == 0)
        #expect(try t.slice(1..<3).strings == Array(words[2...]))
        #expect(try t.reshaped([6]).strings == words)
        #expect(throws: TensorError.self) { try Tensor(shape: [4], strings: words) }
        #expect(throws: TensorError.self) { try t.elements(as: UInt8.self) }
        let blank = try Tensor(dtype: .string, shape: [2])
        #expect(blank.strings == [[], []])
        #expect(t.bitwiseEquals(try Tensor(shape: [3, 2], strings: words)))
        #expect(!t.bitwiseEquals(try Tensor(shape: [6], strings: words)))
        var copy = t
        copy = try copy.slice(0..<1)
        #expect(t.strings.count == 6 && copy.strings.count == 2)
    }

    @Test func bitwiseEqualityComparesNaNPayloads() throws {
        let a = try Tensor(shape: [2], elements: [Float(bitPattern: 0x7FC0_0001), 1])
        let b = try Tensor(shape: [2], elements: [Float(bitPattern: 0x7FC0_0001), 1])
        let c = try Tensor(shape: [2], elements: [Float(bitPattern: 0x7FC0_0002), 1])
        #expect(a.bitwiseEquals(b) && !a.bitwiseEquals(c))
        #expect(!a.bitwiseEquals(try a.reshaped([1, 2])))
    }
}
