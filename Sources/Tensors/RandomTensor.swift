/// Reproducible random tensors for `--random` feeds: the same seed gives the same bytes on every
/// machine (a fixed 64-bit generator, no system randomness).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64: tiny, fast, and good enough for test inputs.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// Random values of `dtype`: floats standard normal, integers in 0..<10, booleans fair.
    public static func random(dtype: DType, shape: Shape, generator: inout SeededGenerator) throws(TensorError) -> Tensor {
        let n = shape.elementCount
        func normals() -> [Float] {
            (0..<n).map { _ in
                // Box–Muller on two uniforms in (0, 1].
                let u1 = Float(generator.next() >> 40 + 1) / Float(1 << 24)
                let u2 = Float(generator.next() >> 40) / Float(1 << 24)
                return (-2 * _logf(u1)).squareRoot() * _cosf(2 * Float.pi * u2)
            }
        }
        func integers() -> [Int64] { (0..<n).map { _ in Int64(generator.next() % 10) } }
        switch dtype {
        case .float32: return try Tensor(shape: shape, elements: normals())
        case .float16, .bfloat16: return try Tensor(shape: shape, elements: normals()).converted(to: dtype)
        case .float64: return try Tensor(shape: shape, elements: normals().map(Double.init))
        case .int64: return try Tensor(shape: shape, elements: integers())
        case .int32: return try Tensor(shape: shape, elements: integers().map { Int32($0) })
        case .int16: return try Tensor(shape: shape, elements: integers().map { Int16($0) })
        case .int8: return try Tensor(shape: shape, elements: integers().map { Int8($0) })
        case .uint8: return try Tensor(shape: shape, elements: (0..<n).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        case .uint16: return try Tensor(shape: shape, elements: integers().map { UInt16($0) })
        case .uint32: return try Tensor(shape: shape, elements: integers().map { UInt32($0) })
        case .uint64: return try Tensor(shape: shape, elements: integers().map { UInt64($0) })
        case .bool: return try Tensor(shape: shape, elements: (0..<n).map { _ in generator.next() & 1 == 1 })
        case .string: return try Tensor(shape: shape, strings: (0..<n).map { i in Array("s\(i)".utf8) })
        default: throw .unsupported("random \(dtype) tensors")
        }
    }
}

#if canImport(Glibc)
import Glibc
private func _logf(_ x: Float) -> Float { logf(x) }
private func _cosf(_ x: Float) -> Float { cosf(x) }
#else
import Darwin
private func _logf(_ x: Float) -> Float { logf(x) }
private func _cosf(_ x: Float) -> Float { cosf(x) }
#endif
