import Testing
import Tensors

/// Shapes reject what cannot exist (negative dimensions, element counts past Int.max) with a
/// `TensorError`; DType sizes and names are what ONNX and numpy use.
@Suite struct ShapeAndDTypeTests {
    @Test func describesAndMeasuresValidShapes() throws {
        let s = try Shape([1, 3, 640, 640])
        #expect(s.rank == 4 && s.elementCount == 1_228_800 && s[1] == 3)
        #expect(s.contiguousStrides == [1_228_800, 409_600, 640, 1])
        #expect(s.description == "1x3x640x640")
        let scalar = try Shape([])
        #expect(scalar.rank == 0 && scalar.elementCount == 1 && scalar.description == "scalar")
        #expect(try Shape([3, 0, 2]).elementCount == 0)
        #expect(try Shape([0, Int.max, 2]).elementCount == 0)  // empty, however large the other axes
        #expect(try Shape([2, 3]) == [2, 3])
    }

    @Test(arguments: [[-1], [2, -3], [0, -1], [Int.min]])
    func rejectsNegativeDimensions(dims: [Int]) {
        #expect(throws: TensorError.self) { try Shape(dims) }
    }

    @Test(arguments: [[Int.max, 2], [1 << 32, 1 << 32], [3, 1 << 62], [1 << 21, 1 << 21, 1 << 21, 2]])
    func rejectsElementCountOverflow(dims: [Int]) {
        #expect(throws: TensorError.self) { try Shape(dims) }
    }

    /// Element count fits, byte count does not: the tensor is refused before any allocation.
    @Test func rejectsTensorsWhoseBytesOverflow() throws {
        let shape = try Shape([Int.max / 2])
        #expect(throws: TensorError.self) { try Tensor(dtype: .float32, shape: shape) }
        #expect(throws: TensorError.self) { try Tensor(dtype: .complex128, shape: try Shape([1 << 60])) }
    }

    @Test func dtypeSizes() {
        #expect(DType.float16.byteSize == 2 && DType.bfloat16.byteSize == 2 && DType.complex128.byteSize == 16)
        #expect(DType.string.byteSize == nil && DType.int4.byteSize == nil)
        #expect(DType.int4.byteCount(elements: 3) == 2 && DType.uint2.byteCount(elements: 5) == 2)
        #expect(DType.float32.byteCount(elements: Int.max / 2) == nil)
        #expect(DType.allCases.filter(\.isComputable).allSatisfy { $0.byteSize != nil })
    }

    @Test func dtypeNamesRoundTrip() {
        for t in DType.allCases { #expect(DType(name: t.name) == t, "\(t)") }
        #expect(DType(name: "fp16") == .float16 && DType(name: "BF16") == .bfloat16 && DType(name: "float32") == .float32)
        #expect(DType(name: "float64") == .float64 && DType(name: "half") == .float16 && DType(name: "nonsense") == nil)
        #expect(DType(rawValue: 16) == .bfloat16 && DType(rawValue: 1) == .float32)
    }
}
