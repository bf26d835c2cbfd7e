import CKernels

/// Element-type conversions at memory speed: F16C/AVX2 where the CPU has it (chosen at run time),
/// the portable loop elsewhere, spread over the cores for large tensors. Bit-exact with numpy's
/// `astype` (ml_dtypes for bfloat16) in every path.
public enum FloatConversion {
    /// The instruction-set level the kernels use on this CPU.
    public static var isa: String { String(cString: hp_isa_name(hp_best_isa())) }

    /// Converts float32 values to float16 bit patterns. `source` and `destination` have equal counts.
    public static func float32ToFloat16(_ source: UnsafeBufferPointer<Float>, _ destination: UnsafeMutableBufferPointer<UInt16>, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_f32_to_f16(isa, s, d, n) }
    }

    public static func float16ToFloat32(_ source: UnsafeBufferPointer<UInt16>, _ destination: UnsafeMutableBufferPointer<Float>, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_f16_to_f32(isa, s, d, n) }
    }

    public static func float32ToBFloat16(_ source: UnsafeBufferPointer<Float>, _ destination: UnsafeMutableBufferPointer<UInt16>, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_f32_to_bf16(isa, s, d, n) }
    }

    public static func bfloat16ToFloat32(_ source: UnsafeBufferPointer<UInt16>, _ destination: UnsafeMutableBufferPointer<Float>, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_bf16_to_f32(isa, s, d, n) }
    }

    /// `destination[i] = float16(Float(source[i]) * scale + bias)`, e.g. scale 1/255 for images.
    public static func uint8ToFloat16(_ source: UnsafeBufferPointer<UInt8>, _ destination: UnsafeMutableBufferPointer<UInt16>, scale: Float, bias: Float = 0, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_u8_to_f16(isa, s, d, n, scale, bias) }
    }

    /// `destination[i] = Float(source[i]) * scale + bias`.
    public static func uint8ToFloat32(_ source: UnsafeBufferPointer<UInt8>, _ destination: UnsafeMutableBufferPointer<Float>, scale: Float, bias: Float = 0, portableOnly: Bool = false) {
        convert(source, destination, portableOnly) { isa, s, d, n in hp_u8_to_f32(isa, s, d, n, scale, bias) }
    }

    /// Runs one kernel over equal-length buffers, split across cores when large.
    private static func convert<Source, Destination>(
        _ source: UnsafeBufferPointer<Source>, _ destination: UnsafeMutableBufferPointer<Destination>, _ portableOnly: Bool,
        _ kernel: @escaping (HPKernelISA, UnsafePointer<Source>, UnsafeMutablePointer<Destination>, Int) -> Void
    ) {
        precondition(source.count == destination.count, "conversion buffers differ in length")
        if source.isEmpty { return }  // an empty buffer may have no base address to unwrap
        let isa = portableOnly ? HPKernelISAPortable : hp_best_isa()
        let work = UncheckedSendable((source.baseAddress!, destination.baseAddress!, kernel))
        ParallelChunks.run(count: source.count) { r in
            let (src, dst, kernel) = work.value
            kernel(isa, src + r.lowerBound, dst + r.lowerBound, r.count)
        }
    }
}

extension FloatConversion {
    /// `value` rounded to the nearest float16 and back (round to nearest even), for range checks.
    public static func roundTripFloat16(_ value: Float) -> Float { hp_f16_to_f32_scalar(hp_f32_to_f16_scalar(value)) }
    /// `value` rounded to the nearest bfloat16 and back.
    public static func roundTripBFloat16(_ value: Float) -> Float { hp_bf16_to_f32_scalar(hp_f32_to_bf16_scalar(value)) }
}
