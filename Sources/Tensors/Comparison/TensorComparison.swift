#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How far a candidate value may be from its reference, Polygraphy's way: an element fails only if
/// its absolute error exceeds `atol` AND exceeds `rtol · |reference|` (either bound alone lets it pass).
public struct ComparisonTolerance: Codable, Sendable, Equatable {
    public var rtol: Double
    public var atol: Double

    public init(rtol: Double = 1e-3, atol: Double = 1e-5) {
        self.rtol = rtol
        self.atol = atol
    }

    /// Whether an absolute error `error` at reference magnitude `magnitude` is out of tolerance.
    @inline(__always)
    public func fails(error: Double, referenceMagnitude magnitude: Double) -> Bool {
        error > atol && error > rtol * magnitude
    }
}

/// NaN and infinity counts of the two tensors.
public struct NonFiniteCounts: Codable, Sendable, Equatable {
    public var actualNaN = 0
    public var actualInf = 0
    public var referenceNaN = 0
    public var referenceInf = 0

    public init() {}
    public var total: Int { actualNaN + actualInf + referenceNaN + referenceInf }
}

/// Accuracy of `actual` against `reference` (two tensors of one shape and element type): the
/// statistics Polygraphy offers, computed in Double.
///
/// Error statistics (max/mean/median/p99, relative error, L2, cosine, PSNR, SNR) cover the positions
/// where both values are finite. A non-finite value fails unless the other tensor holds the same one
/// there (NaN with NaN, +inf with +inf). Integer and bool tensors must match exactly (tolerances
/// do not apply: an index or a count that is off by one is wrong).
public struct TensorComparison: Codable, Sendable, Equatable {
    public var dtype: String
    public var shape: [Int]
    public var elementCount: Int
    public var tolerance: ComparisonTolerance
    /// Positions where both values are finite: what the error statistics cover.
    public var finitePairs: Int

    public var maxAbsError: Double
    public var meanAbsError: Double
    /// Median and 99th percentile of |a − b|, linearly interpolated as numpy's `quantile` does.
    public var medianAbsError: Double
    public var p99AbsError: Double
    /// max |a − b| / |b|; an error where the reference is 0 counts as infinite.
    public var maxRelativeError: Double
    /// ‖a − b‖₂ / ‖b‖₂ (b = reference).
    public var relativeL2: Double
    /// a·b / (‖a‖‖b‖); 1 when both are all zeros.
    public var cosineSimilarity: Double
    /// 10·log10(peak² / MSE) dB with peak = max |reference|; +∞ when equal.
    public var psnr: Double
    /// 10·log10(‖b‖² / ‖a − b‖²) dB; +∞ when equal.
    public var snr: Double
    public var nonFinite: NonFiniteCounts
    /// Elements out of tolerance (see `ComparisonTolerance`), non-finite mismatches included.
    public var failingElements: Int
    /// Class-index agreement where the tensor looks like classifier scores (see `TopKAgreement`).
    public var topK: TopKAgreement?
    /// No element is out of tolerance.
    public var passed: Bool

    /// Compares `actual` with `reference`.
    ///
    /// - Parameters:
    ///   - actual: the candidate (e.g. the FP16 model's output, already converted to the reference's type).
    ///   - reference: the trusted values (b in the formulas).
    ///   - tolerance: the elementwise rule deciding `failingElements` and `passed`.
    /// - Throws: `TensorError` when shapes or element types differ, or the type has no arithmetic here.
    /// - Complexity: O(n) time (parallel over the cores for large tensors), 8n bytes for the quantiles.
    public init(actual: Tensor, reference: Tensor, tolerance: ComparisonTolerance = ComparisonTolerance()) throws(TensorError) {
        guard actual.shape == reference.shape else {
            throw .invalidShape("cannot compare shape \(actual.shape) with the reference's \(reference.shape): shapes must be equal")
        }
        guard actual.dtype == reference.dtype else {
            throw .dtypeMismatch(expected: "\(reference.dtype) (the reference's type; convert before comparing)", actual: actual.dtype)
        }
        let dtype = reference.dtype
        let exact = dtype.isInteger || dtype == .bool
        let rule = exact ? ComparisonTolerance(rtol: 0, atol: 0) : tolerance
        var stats: ComparisonStatistics
        switch dtype {
        case .float32, .float16, .bfloat16:
            // float16 and bfloat16 widen to float32 exactly; float32 is read in place.
            let a = try actual.converted(to: .float32), b = try reference.converted(to: .float32)
            stats = a.withUnsafeBufferPointer(as: Float.self) { a in
                b.withUnsafeBufferPointer(as: Float.self) { b in ComparisonStatistics(a, b, rule) }
            }
            topK = TopKAgreement(a, b, shape: reference.shape)
        case .float64:
            stats = actual.withUnsafeBufferPointer(as: Double.self) { a in
                reference.withUnsafeBufferPointer(as: Double.self) { b in ComparisonStatistics(a, b, rule) }
            }
            topK = TopKAgreement(actual, reference, shape: reference.shape)
        case _ where exact:
            let a = try Self.doubles(actual), b = try Self.doubles(reference)
            stats = a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in ComparisonStatistics(a, b, rule) } }
            // 64-bit integers above 2^53 share Doubles: count mismatches on the stored bytes.
            stats.failing = Self.elementMismatches(actual, reference)
            topK = nil
        default:
            throw .unsupported("comparing \(dtype) tensors (no arithmetic for this element type)")
        }
        self.dtype = dtype.name
        self.shape = reference.shape.dimensions
        self.elementCount = reference.elementCount
        self.tolerance = rule
        self.finitePairs = stats.finitePairs
        self.nonFinite = stats.nonFinite
        self.failingElements = stats.failing
        self.passed = stats.failing == 0
        self.maxAbsError = stats.maxAbs
        self.meanAbsError = stats.finitePairs == 0 ? 0 : stats.sumAbs / Double(stats.finitePairs)
        self.medianAbsError = stats.quantile(0.5)
        self.p99AbsError = stats.quantile(0.99)
        self.maxRelativeError = stats.maxRelative
        self.relativeL2 = stats.sumSquaredReference == 0
            ? (stats.sumSquaredError == 0 ? 0 : .infinity)
            : (stats.sumSquaredError / stats.sumSquaredReference).squareRoot()
        let norms = stats.sumSquaredActual * stats.sumSquaredReference
        if stats.sumSquaredActual == 0 && stats.sumSquaredReference == 0 {
            self.cosineSimilarity = 1
        } else {
            self.cosineSimilarity = norms == 0 ? 0 : stats.dot / norms.squareRoot()
        }
        let mse = stats.finitePairs == 0 ? 0 : stats.sumSquaredError / Double(stats.finitePairs)
        self.psnr = mse == 0 ? .infinity : 10 * log10(stats.peak * stats.peak / mse)
        self.snr = stats.sumSquaredError == 0 ? .infinity : 10 * log10(stats.sumSquaredReference / stats.sumSquaredError)
    }

    /// Integer and bool elements as Double (64-bit values above 2^53 round; `elementMismatches` is exact).
    private static func doubles(_ t: Tensor) throws(TensorError) -> [Double] {
        switch t.dtype {
        case .int64: return try t.elements(as: Int64.self).map { Double($0) }
        case .uint64: return try t.elements(as: UInt64.self).map { Double($0) }
        case .int32: return try t.elements(as: Int32.self).map { Double($0) }
        case .uint32: return try t.elements(as: UInt32.self).map { Double($0) }
        default: return try t.floatValues().map { Double($0) }  // 8/16-bit integers and bool: exact in Float
        }
    }

    /// Elements whose stored bytes differ (same type and shape assumed).
    private static func elementMismatches(_ a: Tensor, _ b: Tensor) -> Int {
        guard let size = a.dtype.byteSize, size > 0 else { return a.bitwiseEquals(b) ? 0 : a.elementCount }
        return a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                var count = 0
                for i in 0..<(a.count / size) where !(0..<size).allSatisfy({ a[i * size + $0] == b[i * size + $0] }) { count += 1 }
                return count
            }
        }
    }
}
