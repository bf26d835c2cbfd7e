import CKernels

/// A bfloat16 value: the upper 16 bits of a float32 (8-bit exponent, 7-bit mantissa).
/// Stored as its bit pattern; conversions round to nearest even like ml_dtypes.
public struct BFloat16: Hashable, Sendable, CustomStringConvertible {
    public var bitPattern: UInt16
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }
    public init(_ value: Float) { bitPattern = hp_f32_to_bf16_scalar(value) }
    public var floatValue: Float { hp_bf16_to_f32_scalar(bitPattern) }
    public var description: String { floatValue.description }
}
