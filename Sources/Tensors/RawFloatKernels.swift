import CKernels

/// The C kernels that model passes run over raw float32 bytes (a weight sliced from a model file
/// starts at any byte, so these read unaligned memory), with the best instruction set of this
/// CPU. Only Tensors and Imaging call CKernels; `Precision` comes through here.
public enum RawFloatKernels {
    /// What narrowing float32 values met: finite values beyond the target's range, non-zero values
    /// below its smallest subnormal, and the largest finite |x|.
    public struct NarrowCounts: Sendable, Equatable {
        public var overflow: Int
        public var tiny: Int
        public var largestAbs: Float
    }

    /// Narrows `count` float32 values at `source` into `destination` (float16, or bfloat16 with
    /// `bfloat16`): rounded as the conversions round, finite values beyond the range clamped to
    /// the largest finite value, and with `clampTiny` non-zero values below the smallest subnormal
    /// raised to it. With `scale`, each value of row r (rows of `scale.inner` values) is first
    /// multiplied by `scale.factors[r % count]` in float64 and rounded to float32 (a folded
    /// BatchNormalization's weights), without the float32 intermediate in memory.
    public static func narrow(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, count: Int, bfloat16: Bool, clampTiny: Bool,
                              scale: (rows: Int, inner: Int, factors: [Double])? = nil) -> NarrowCounts {
        precondition(source.count >= count * 4 && destination.count >= count * 2, "narrow: buffers smaller than \(count) values")
        var counts = HPNarrowCounts()
        let dst = destination.baseAddress?.assumingMemoryBound(to: UInt16.self)
        let (toBF16, tiny): (Int32, Int32) = (bfloat16 ? 1 : 0, clampTiny ? 1 : 0)
        if let scale {
            precondition(scale.rows * scale.inner == count, "narrow: \(scale.rows) rows of \(scale.inner) are not \(count) values")
            hp_f32_scale_narrow(hp_best_isa(), source.baseAddress, dst, scale.rows, scale.inner, scale.factors, scale.factors.count, toBF16, tiny, &counts)
        } else {
            hp_f32_narrow(hp_best_isa(), source.baseAddress, dst, count, toBF16, tiny, &counts)
        }
        return NarrowCounts(overflow: counts.overflow, tiny: counts.tiny, largestAbs: Float(bitPattern: counts.max_bits))
    }

    /// destination[r·inner + k] = Float(Double(source[r·inner + k]) · factors[r % factors.count]):
    /// a folded BatchNormalization's weights, computed in float64 and rounded once.
    public static func scaleRows(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, rows: Int, inner: Int, factors: [Double]) {
        precondition(source.count >= rows * inner * 4 && destination.count >= rows * inner * 4, "scaleRows: buffers smaller than \(rows)×\(inner) values")
        hp_scale_rows_f32_by_f64(hp_best_isa(), source.baseAddress, destination.baseAddress?.assumingMemoryBound(to: Float.self), rows, inner, factors, factors.count)
    }

    /// Extremes of the finite values, and how many are Inf or NaN (min +Inf, max −Inf and
    /// largestAbs 0 when none is finite).
    public struct Statistics: Sendable, Equatable {
        public var min: Float
        public var max: Float
        public var largestAbs: Float
        public var nonFinite: Int
    }

    public static func statistics(_ x: UnsafeBufferPointer<Float>) -> Statistics {
        var s = HPStatistics()
        hp_f32_statistics(x.baseAddress, x.count, &s)
        return Statistics(min: s.min, max: s.max, largestAbs: s.largest_abs, nonFinite: s.non_finite)
    }

    /// counts[min(bins − 1, ⌊|x| · scale⌋)] += 1 for every finite x.
    public static func addAbsHistogram(_ x: UnsafeBufferPointer<Float>, scale: Double, into counts: UnsafeMutableBufferPointer<Int64>) {
        hp_f32_abs_histogram(x.baseAddress, x.count, scale, counts.baseAddress, counts.count)
    }
}

/// What this CPU offers that changes a precision decision.
public enum CPUFeatures {
    /// int8 dot-product instructions (x86 VNNI, ARM dotprod): ONNX Runtime's int8 kernels then
    /// take 8-bit weights without saturating their 16-bit sums.
    public static var hasInt8DotProduct: Bool { hp_cpu_has_int8_dot_product() != 0 }
}
