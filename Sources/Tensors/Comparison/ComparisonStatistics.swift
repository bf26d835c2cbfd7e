import Dispatch

/// The sums and extremes of one comparison pass, plus the absolute errors kept for the quantiles.
///
/// Accumulation is in Double over blocks of 64 Ki elements whose partial sums are then added:
/// besides letting blocks run on all cores, that bounds rounding growth to one block's length
/// plus the block count (about 1e-11 relative for float32 data), where one running sum over
/// 10M elements would grow with n.
struct ComparisonStatistics {
    var finitePairs = 0
    var sumAbs = 0.0
    var sumSquaredError = 0.0
    var sumSquaredReference = 0.0
    var sumSquaredActual = 0.0
    var dot = 0.0
    var maxAbs = 0.0
    var maxRelative = 0.0
    /// max |reference| over finite pairs: PSNR's peak.
    var peak = 0.0
    var failing = 0
    var nonFinite = NonFiniteCounts()
    /// |a − b| of the finite pairs (order unspecified), for the median and p99.
    private var errors: [Double] = []
    /// Errors before this index are ≤ every error after it (left by an earlier selection), so a
    /// later, higher quantile selects only in the rest: p99 after the median scans half the data.
    private var settled = 0

    static let blockLength = 1 << 16

    init() {}

    init<T: BinaryFloatingPoint & Sendable>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>, _ rule: ComparisonTolerance) {
        let count = min(a.count, b.count)
        let blocks = (count + Self.blockLength - 1) / Self.blockLength
        var partials = [ComparisonStatistics](repeating: ComparisonStatistics(), count: blocks)
        // Excluded (non-finite) positions hold -1 and are dropped before the quantiles.
        // Every position is written by exactly one block, so the buffer needs no zero fill.
        var errors = [Double](unsafeUninitializedCapacity: count) { errors, initialized in
            partials.withUnsafeMutableBufferPointer { partials in
                // Each block writes only its own partial and its own range of errors.
                let work = UncheckedSendable((a, b, partials, errors))
                let body: @Sendable (Int) -> Void = { block in
                    let (a, b, partials, errors) = work.value
                    let start = block * Self.blockLength
                    partials[block].accumulate(a, b, start..<min(count, start + Self.blockLength), rule, errorsOut: errors)
                }
                if blocks > 1 && ParallelChunks.coreCount > 1 {
                    DispatchQueue.concurrentPerform(iterations: blocks, execute: body)
                } else {
                    for block in 0..<blocks { body(block) }
                }
            }
            initialized = count
        }
        for partial in partials { merge(partial) }
        if finitePairs < count { errors.removeAll { $0 < 0 } }
        self.errors = errors
    }

    /// Adds the positions `range` to this (block-local) accumulator.
    @inline(__always)
    private mutating func accumulate<T: BinaryFloatingPoint>(
        _ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>, _ range: Range<Int>,
        _ rule: ComparisonTolerance, errorsOut: UnsafeMutableBufferPointer<Double>
    ) {
        for i in range {
            let x = Double(a[i]), y = Double(b[i])
            guard x.isFinite && y.isFinite else {
                if x.isNaN { nonFinite.actualNaN += 1 } else if x.isInfinite { nonFinite.actualInf += 1 }
                if y.isNaN { nonFinite.referenceNaN += 1 } else if y.isInfinite { nonFinite.referenceInf += 1 }
                // The same NaN or infinity on both sides agrees; anything else is a failure.
                if !((x.isNaN && y.isNaN) || x == y) { failing += 1 }
                errorsOut[i] = -1
                continue
            }
            let difference = x - y
            let error = abs(difference), magnitude = abs(y)
            errorsOut[i] = error
            finitePairs += 1
            sumAbs += error
            sumSquaredError += difference * difference
            sumSquaredReference += y * y
            sumSquaredActual += x * x
            dot += x * y
            if error > maxAbs { maxAbs = error }
            if magnitude > peak { peak = magnitude }
            let relative = magnitude == 0 ? (error == 0 ? 0 : Double.infinity) : error / magnitude
            if relative > maxRelative { maxRelative = relative }
            if rule.fails(error: error, referenceMagnitude: magnitude) { failing += 1 }
        }
    }

    private mutating func merge(_ other: ComparisonStatistics) {
        finitePairs += other.finitePairs
        sumAbs += other.sumAbs
        sumSquaredError += other.sumSquaredError
        sumSquaredReference += other.sumSquaredReference
        sumSquaredActual += other.sumSquaredActual
        dot += other.dot
        maxAbs = max(maxAbs, other.maxAbs)
        maxRelative = max(maxRelative, other.maxRelative)
        peak = max(peak, other.peak)
        failing += other.failing
        nonFinite.actualNaN += other.nonFinite.actualNaN
        nonFinite.actualInf += other.nonFinite.actualInf
        nonFinite.referenceNaN += other.nonFinite.referenceNaN
        nonFinite.referenceInf += other.nonFinite.referenceInf
    }

    /// The `q` quantile of the absolute errors, interpolated linearly between order statistics
    /// (numpy's default), by selection rather than a full sort: O(n) expected.
    mutating func quantile(_ q: Double) -> Double {
        guard !errors.isEmpty else { return 0 }
        let position = q * Double(errors.count - 1)
        let lower = Int(position.rounded(.down))
        let fraction = position - Double(lower)
        let start = lower >= settled ? settled : 0
        settled = lower + 1
        return errors.withUnsafeMutableBufferPointer { values in
            let rest = UnsafeMutableBufferPointer(rebasing: values[start...])
            let low = Self.select(lower - start, in: rest)
            guard fraction > 0, lower + 1 < values.count else { return low }
            // After selection everything past `lower` is ≥ low: the next order statistic is their minimum.
            var high = values[lower + 1]
            for i in (lower + 2)..<values.count where values[i] < high { high = values[i] }
            return low + fraction * (high - low)
        }
    }

    /// Hoare quickselect with a median-of-three pivot: puts the k-th smallest at `k`, smaller or
    /// equal values before it and larger or equal after. Stopping on equal keys keeps runs of
    /// identical errors (e.g. many exact zeros) from degrading it to quadratic time.
    static func select(_ k: Int, in v: UnsafeMutableBufferPointer<Double>) -> Double {
        var lo = 0, hi = v.count - 1
        while hi > lo {
            let mid = lo + (hi - lo) / 2
            if v[mid] < v[lo] { v.swapAt(mid, lo) }
            if v[hi] < v[lo] { v.swapAt(hi, lo) }
            if v[hi] < v[mid] { v.swapAt(hi, mid) }
            let pivot = v[mid]
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return v[k] }
        }
        return v[k]
    }
}
