import CKernels

/// Tensor-level element-type conversion built on `FloatConversion`'s kernels.
extension Tensor {
    /// A copy of this tensor with elements of `target` type.
    ///
    /// Supported: float32 ⇄ float16, float32 ⇄ bfloat16, float16/bfloat16 → float32 via the fast
    /// kernels; float64 and the integer types → float32/float16/bfloat16 (through float32, except
    /// float64 → float16/bfloat16, which round once as numpy and ml_dtypes do); uint8 →
    /// float16/float32/bfloat16 use `uint8Scale`. Converting to the same type returns `self`.
    public func converted(to target: DType, uint8Scale: Float = 1) throws(TensorError) -> Tensor {
        if target == dtype { return self }
        var out = try Tensor(dtype: target, shape: shape, zeroed: false)
        switch (dtype, target) {
        case (.float32, .float16), (.float32, .bfloat16):
            withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    let s = src.bindMemory(to: Float.self), d = dst.bindMemory(to: UInt16.self)
                    if target == .float16 { FloatConversion.float32ToFloat16(s, d) } else { FloatConversion.float32ToBFloat16(s, d) }
                }
            }
        case (.float16, .float32), (.bfloat16, .float32):
            withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    let s = src.bindMemory(to: UInt16.self), d = dst.bindMemory(to: Float.self)
                    if dtype == .float16 { FloatConversion.float16ToFloat32(s, d) } else { FloatConversion.bfloat16ToFloat32(s, d) }
                }
            }
        case (.uint8, .float16), (.uint8, .float32):
            withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    let s = src.bindMemory(to: UInt8.self)
                    if target == .float16 {
                        FloatConversion.uint8ToFloat16(s, dst.bindMemory(to: UInt16.self), scale: uint8Scale)
                    } else {
                        FloatConversion.uint8ToFloat32(s, dst.bindMemory(to: Float.self), scale: uint8Scale)
                    }
                }
            }
        case (.float16, .bfloat16):
            return try converted(to: .float32).converted(to: target)
        case (.bfloat16, .float16):
            // ml_dtypes turns every bfloat16 NaN into float16's quiet NaN 0x7E00 (sign kept), where
            // numpy's float32 -> float16 keeps payload bits: make the NaNs canonical before narrowing.
            var wide = try converted(to: .float32)
            wide.withUnsafeMutableBufferPointer(as: Float.self) { values in
                for i in values.indices where values[i].isNaN {
                    values[i] = Float(bitPattern: (values[i].bitPattern & 0x8000_0000) | 0x7FC0_0000)
                }
            }
            return try wide.converted(to: target)
        case (.float64, .float16), (.float64, .bfloat16):
            // numpy (float16) and ml_dtypes 0.7 (bfloat16) round float64 once; through float32 it
            // would round twice and move ties (1 + 2^-8 + 2^-30 -> bfloat16 0x3F81, not 0x3F80).
            let narrow = target == .float16 ? hp_f64_to_f16_scalar : hp_f64_to_bf16_scalar
            withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    let s = src.bindMemory(to: Double.self), d = dst.bindMemory(to: UInt16.self)
                    for i in s.indices { d[i] = narrow(s[i]) }
                }
            }
        case (_, .float32) where dtype.isComputable:
            let values = try floatValues()
            out = try Tensor(shape: shape, elements: values)
        case (_, .float16), (_, .bfloat16):
            // uint8Scale passed on: uint8 -> bfloat16 used to drop it silently.
            return try converted(to: .float32, uint8Scale: uint8Scale).converted(to: target)
        default:
            throw .unsupported("conversion from \(dtype) to \(target)")
        }
        return out
    }

    /// Every element as a Float (float64 and 64-bit integers round to nearest), for statistics and checks.
    public func floatValues() throws(TensorError) -> [Float] {
        switch dtype {
        case .float32: return try elements(as: Float.self)
        case .float16, .bfloat16: return try converted(to: .float32).elements(as: Float.self)
        case .float64: return try elements(as: Double.self).map(Float.init)
        // Explicit closures: a bare `Float.init` on UInt32 resolves to `init(bitPattern:)` and
        // reinterpreted the bits (uint32 1 read as 1.4e-45).
        case .int8: return try elements(as: Int8.self).map { Float($0) }
        case .int16: return try elements(as: Int16.self).map { Float($0) }
        case .int32: return try elements(as: Int32.self).map { Float($0) }
        case .int64: return try elements(as: Int64.self).map { Float($0) }
        case .uint8: return try elements(as: UInt8.self).map { Float($0) }
        case .uint16: return try elements(as: UInt16.self).map { Float($0) }
        case .uint32: return try elements(as: UInt32.self).map { Float($0) }
        case .uint64: return try elements(as: UInt64.self).map { Float($0) }
        case .bool: return try elements(as: Bool.self).map { $0 ? 1 : 0 }
        default: throw .unsupported("reading \(dtype) elements as numbers")
        }
    }
}
