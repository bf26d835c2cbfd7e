import Foundation
import Precision
import Tensors
import Testing

/// `AbsHistogram` and `ActivationStatistics.add` over streams: however the data is cut into
/// batches, the result is the one of all the data at once, and the histogram is the exact one at
/// its final range (its edges are powers of two × bins, so a brute force in Double is exact).
@Suite struct ActivationStatisticsTests {
    /// The bin counts tried: odd ones (rounded down to even), powers of two and others.
    static let binCounts = [1, 2, 3, 5, 6, 7, 8, 33, 64, 100, 2048]

    /// `count` values around 2^exponent (signs mixed), with a zero, an Inf and a NaN mixed in
    /// when `count` allows, so every batch shape of the sweep meets them at some offset.
    static func batch(_ count: Int, exponent: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var values = (0..<count).map { _ in
            Float(Int64(generator.next() % 2_000_001) - 1_000_000) / 1_000_000 * Float(sign: .plus, exponent: exponent, significand: 1)
        }
        if count > 3 { values[Int(generator.next() % UInt64(count))] = 0 }
        if count > 7 { values[Int(generator.next() % UInt64(count))] = .infinity }
        if count > 11 { values[Int(generator.next() % UInt64(count))] = -.nan }
        return values
    }

    /// Batches whose magnitudes rise and fall, so the range grows several times mid-stream.
    static func stream(size: Int, seed: UInt64) -> [[Float]] {
        [-3, 0, -8, 5, 2, 9, -1].enumerated().map { i, exponent in batch(size, exponent: exponent, seed: seed &+ UInt64(i)) }
    }

    static func histogram(bins: Int, _ batches: [[Float]]) -> AbsHistogram {
        var h = AbsHistogram(bins: bins)
        for b in batches { b.withUnsafeBufferPointer { h.add($0) } }
        return h
    }

    /// Counts computed value by value at `range` in Double (exact: |x| has 24 significant bits,
    /// bins fewer than 2^29, and range is a power of two).
    static func bruteForce(_ values: [Float], bins: Int, range: Double) -> [Int] {
        var counts = Array(repeating: 0, count: bins)
        guard range > 0 else { return counts }
        for v in values where v.isFinite {
            counts[min(bins - 1, Int(Double(abs(v)) * Double(bins) / range))] += 1
        }
        return counts
    }

    @Test func oddBinCountsRoundDownToEven() {
        // Doubling merges bins in pairs: the count must be even (and at least 2).
        #expect([0, 1, 2, 3, 5, 7, 33, 2049].map { AbsHistogram(bins: $0).bins } == [2, 2, 2, 2, 4, 6, 32, 2048])
    }

    @Test(arguments: binCounts)
    func streamingEqualsOneBatch(bins: Int) {
        for size in 0...33 {
            let batches = Self.stream(size: size, seed: UInt64(size))
            let all = batches.flatMap { $0 }
            let streamed = Self.histogram(bins: bins, batches)
            let whole = Self.histogram(bins: bins, [all])
            #expect(streamed == whole, "bins \(bins), size \(size)")
            // Partial batches too: the same data cut at other places.
            let step = size / 3 + 1
            let recut = stride(from: 0, to: all.count, by: step).map { Array(all[$0..<min($0 + step, all.count)]) }
            #expect(Self.histogram(bins: bins, recut) == whole, "bins \(bins), size \(size), recut")
        }
    }

    @Test(arguments: binCounts)
    func countsAreExactAtTheFinalRange(bins: Int) {
        for size in 0...33 {
            let batches = Self.stream(size: size, seed: 100 + UInt64(size))
            let all = batches.flatMap { $0 }
            let h = Self.histogram(bins: bins, batches)
            let finite = all.filter(\.isFinite)
            #expect(h.total == finite.count, "bins \(bins), size \(size)")
            let largest = finite.map { abs($0) }.max() ?? 0
            // The range is the smallest power of two above every |x| seen.
            let range: Double = largest == 0 ? 0 : Double(sign: .plus, exponent: Int(largest.exponent) + 1, significand: 1)
            #expect(h.range == range, "bins \(bins), size \(size): range \(h.range), largest \(largest)")
            if largest > 0 {
                #expect(h.counts == Self.bruteForce(all, bins: h.bins, range: h.range), "bins \(bins), size \(size)")
                #expect(h.zeros == 0)
            } else {
                #expect(h.zeros == finite.count && h.counts.allSatisfy { $0 == 0 })
            }
        }
    }

    /// Values on and just under every bin edge, where a rounded |x| · bins / range in float
    /// arithmetic would put a value in the next bin (bin counts that are not powers of two).
    @Test(arguments: [6, 100, 2048])
    func valuesAtBinEdgesLandInTheirBin(bins: Int) {
        let range: Float = 4
        let edges = (1..<bins).map { Float(Double(range) * Double($0) / Double(bins)) }
        let values = edges.flatMap { [$0, $0.nextDown, $0.nextUp] } + [range.nextDown, range / 2, (range / 2).nextDown]
        // The first batch sets the range to 4 (its largest |x| is in [2, 4)); the next add the edges.
        let streamed = Self.histogram(bins: bins, [[range.nextDown]] + values.map { [$0] })
        let whole = Self.histogram(bins: bins, [[range.nextDown] + values])
        #expect(streamed.range == Double(range) && whole.range == Double(range))
        let exact = Self.bruteForce([range.nextDown] + values, bins: bins, range: Double(range))
        #expect(whole.counts == exact, "one batch: \(zip(whole.counts, exact).enumerated().filter { $1.0 != $1.1 }.prefix(4).map { "bin \($0): \($1.0) vs \($1.1)" })")
        #expect(streamed.counts == exact, "streamed: \(zip(streamed.counts, exact).enumerated().filter { $1.0 != $1.1 }.prefix(4).map { "bin \($0): \($1.0) vs \($1.1)" })")
        // Halving into a range of 2 first, then growing to 4, must agree too.
        let grown = Self.histogram(bins: bins, [[1.5], values.filter { $0 < 2 }, values.filter { $0 >= 2 }, [range.nextDown]])
        #expect(grown.counts == Self.bruteForce([1.5] + values + [range.nextDown], bins: bins, range: 4), "grown")
    }

    @Test func zerosWaitForTheFirstNonZeroValue() {
        var h = AbsHistogram(bins: 8)
        [Float(0), -0, 0].withUnsafeBufferPointer { h.add($0) }
        [Float.nan, 0].withUnsafeBufferPointer { h.add($0) }
        #expect(h.zeros == 4 && h.range == 0 && h.counts.allSatisfy { $0 == 0 } && h.total == 4)
        [Float(0.75), 0].withUnsafeBufferPointer { h.add($0) }
        // Range 1: the zeros (4 + 1) in bin 0, 0.75 in bin 6.
        #expect(h.zeros == 0 && h.range == 1 && h.counts == [5, 0, 0, 0, 0, 0, 1, 0], "\(h.counts)")
        [Float(0), -0].withUnsafeBufferPointer { h.add($0) }
        #expect(h.counts[0] == 7 && h.total == 8)
    }

    @Test func infinityAndNaNAreIgnored() {
        var h = AbsHistogram(bins: 4)
        [Float.infinity, -.infinity, .nan, -.nan].withUnsafeBufferPointer { h.add($0) }
        #expect(h.total == 0 && h.range == 0)
        [Float.infinity, 3, .nan, -1, 2].withUnsafeBufferPointer { h.add($0) }
        // Range 4 from |3|: bins of width 1.
        #expect(h.range == 4 && h.counts == [0, 1, 1, 1] && h.total == 3, "\(h.counts)")
    }

    /// Tiny largest values give tiny ranges (down to subnormal powers of two); binning there must
    /// neither trap (bins / range beyond Float's range) nor misplace values.
    @Test(arguments: [Float(1e-30), 1e-36, 1e-38, 1e-40, .leastNonzeroMagnitude])
    func tinyRangesBinExactly(largest: Float) {
        for bins in [2, 6, 64, 2048] {
            let values: [Float] = [0, largest, largest / 2, -largest / 3]
            let h = Self.histogram(bins: bins, [values])
            #expect(h.total == 4 && h.range > Double(largest) && h.range <= Double(largest) * 2, "bins \(bins): range \(h.range)")
            #expect(h.counts == Self.bruteForce(values, bins: h.bins, range: h.range), "bins \(bins), largest \(largest)")
        }
    }

    /// Activations up to float32's largest values: the range (2^128) lies past float32's own range.
    @Test func hugeValuesKeepAFiniteRange() {
        let values: [Float] = [.greatestFiniteMagnitude, 1, -0x1p127, 0]
        let h = Self.histogram(bins: 2048, [values])
        #expect(h.range == 0x1p128 && h.total == 4)
        #expect(h.counts == Self.bruteForce(values, bins: h.bins, range: h.range))
        #expect(h.counts[2047] == 1 && h.counts[1024] == 1 && h.counts[0] == 2)
    }

    // MARK: ActivationStatistics.add

    static func tensor(_ values: [Float]) throws -> Tensor { try Tensor(shape: try Shape([values.count]), elements: values) }

    @Test(arguments: [nil, 7, 64])
    func batchesGiveTheStatisticsOfTheirConcatenation(bins: Int?) throws {
        for size in 0...33 {
            let batches = Self.stream(size: size, seed: 500 + UInt64(size))
            var streamed = ActivationStatistics(histogramBins: bins), whole = ActivationStatistics(histogramBins: bins)
            for b in batches {
                // A non-float32 value next to it is not measured.
                streamed.add(["v": try Self.tensor(b), "i": try Tensor(shape: try Shape([b.count]), elements: b.map { _ in Int64(7) })])
            }
            whole.add(["v": try Self.tensor(batches.flatMap { $0 })])
            let s = try #require(streamed.values["v"]), w = try #require(whole.values["v"])
            #expect(streamed.values["i"] == nil && streamed.batches == batches.count)
            #expect(s.min == w.min && s.max == w.max && s.largestAbs == w.largestAbs && s.nonFinite == w.nonFinite, "size \(size)")
            #expect(s.histogram == w.histogram, "size \(size)")
            let finite = batches.flatMap { $0 }.filter(\.isFinite)
            #expect(s.min == (finite.min() ?? .infinity) && s.max == (finite.max() ?? -.infinity), "size \(size)")
            #expect(s.largestAbs == finite.map { abs($0) }.max() ?? 0, "size \(size)")
            #expect(s.nonFinite == (size > 7), "size \(size)")
            #expect(s.elements == size)
        }
    }
}
