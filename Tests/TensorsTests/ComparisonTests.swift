import Foundation
import Testing
import Tensors

/// `TensorComparison` on hand-made tensors whose answers are worked out by hand in the comments.
@Suite struct ComparisonTests {
    func tensor(_ values: [Float], _ dims: [Int]? = nil) throws -> Tensor {
        try Tensor(shape: try Shape(dims ?? [values.count]), elements: values)
    }

    func close(_ x: Double, _ y: Double, _ tolerance: Double = 1e-12) -> Bool {
        abs(x - y) <= tolerance * max(1, abs(y))
    }

    @Test func identicalTensorsHaveZeroErrorAndInfinitePSNR() throws {
        let a = try tensor([1, -2, 3.5, 0])
        let c = try TensorComparison(actual: a, reference: a)
        #expect(c.passed && c.failingElements == 0)
        #expect(c.maxAbsError == 0 && c.meanAbsError == 0 && c.relativeL2 == 0 && c.medianAbsError == 0)
        #expect(c.cosineSimilarity == 1)
        #expect(c.psnr == .infinity && c.snr == .infinity)
    }

    /// b = [3, 4] (‖b‖ = 5), a = [0, 4]: a − b = [−3, 0], ‖a − b‖ = 3.
    @Test func metricsMatchTheirDefinitions() throws {
        let c = try TensorComparison(actual: try tensor([0, 4]), reference: try tensor([3, 4]))
        #expect(c.maxAbsError == 3)
        #expect(c.meanAbsError == 1.5)
        #expect(c.medianAbsError == 1.5)            // errors {0, 3}: halfway
        #expect(close(c.p99AbsError, 2.97))         // 0 + 0.99 · (3 − 0), numpy's linear rule
        #expect(c.maxRelativeError == 1)            // 3 / |3|
        #expect(close(c.relativeL2, 0.6))           // 3 / 5
        #expect(close(c.cosineSimilarity, 0.8))     // (0·3 + 4·4) / (4 · 5)
        #expect(close(c.psnr, 10 * log10(16 / 4.5)))  // peak 4, MSE 9/2: 5.509 dB
        #expect(close(c.snr, 10 * log10(25.0 / 9)))   // 4.437 dB
        #expect(!c.passed && c.failingElements == 1)
    }

    /// Polygraphy's rule: an element fails only when it exceeds atol AND rtol·|b|.
    @Test func failsOnlyWhenBothToleranceBoundsAreExceeded() throws {
        let reference = try tensor([1, 100, 0, 10, 1000])
        let actual = try tensor([1.5, 100.5, 1e-6, 10, 1000.05])
        let c = try TensorComparison(actual: actual, reference: reference, tolerance: ComparisonTolerance(rtol: 1e-2, atol: 0.1))
        // 1 vs 1.5: 0.5 > 0.1 and > 0.01 → fails. 100 vs 100.5: 0.5 > 0.1 but ≤ 1.0 → passes.
        // 0 vs 1e-6: relative error infinite but ≤ atol → passes. 1000.05: ≤ atol → passes.
        #expect(c.failingElements == 1)
        #expect(c.maxRelativeError == .infinity)
        let strict = try TensorComparison(actual: actual, reference: reference, tolerance: ComparisonTolerance(rtol: 0, atol: 0))
        #expect(strict.failingElements == 4)
    }

    @Test func countsNaNAndInfinityAndFailsMismatchedOnes() throws {
        let nan = Float.nan, inf = Float.infinity
        let reference = try tensor([nan, inf, 1, 2, nan, 5])
        let actual = try tensor([nan, inf, nan, -inf, 1, 5])
        let c = try TensorComparison(actual: actual, reference: reference)
        #expect(c.nonFinite.actualNaN == 2 && c.nonFinite.actualInf == 2)
        #expect(c.nonFinite.referenceNaN == 2 && c.nonFinite.referenceInf == 1)
        // NaN/NaN and inf/inf agree; 1 → NaN, 2 → −inf and NaN → 1 fail.
        #expect(c.failingElements == 3)
        #expect(c.finitePairs == 1)
        #expect(c.maxAbsError == 0)  // statistics cover only the finite pair 5/5
    }

    @Test func topKAgreementOnClassifierRows() throws {
        let scores: [[Float]] = [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [1, 9, 0, 0, 0, 0]]
        let other: [[Float]] = [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], [2, 8, 0, 0, 0, 0]]
        let c = try TensorComparison(actual: try tensor(scores.flatMap { $0 }, [3, 6]), reference: try tensor(other.flatMap { $0 }, [3, 6]))
        let topK = try #require(c.topK)
        #expect(topK.rows == 3 && topK.classes == 6)
        // Row 2 picks class 0 against 5; top-5 sets {0,1,2,3,4} and {5,4,3,2,1} share 4; rows 1 and 3 share all 5.
        #expect(close(topK.top1, 2.0 / 3))
        #expect(try #require(topK.top5Overlap).isApproximatelyEqual(14.0 / 15))
    }

    @Test func topKOnlyForClassifierShapes() throws {
        let map = try tensor(Array(repeating: 0.5, count: 16), [1, 1, 4, 4])
        #expect(try TensorComparison(actual: map, reference: map).topK == nil)
        let twoClasses = try tensor([0.2, 0.8, 0.9, 0.1], [2, 2])
        let c = try TensorComparison(actual: twoClasses, reference: twoClasses)
        #expect(c.topK?.top1 == 1 && c.topK?.top5Overlap == nil)
        #expect(TopKAgreement.appliesTo([8, 1, 1, 1000]))
        #expect(!TopKAgreement.appliesTo([8, 3, 1000]))
        #expect(!TopKAgreement.appliesTo([1000]))
    }

    @Test func shapeOrTypeMismatchIsAClearError() throws {
        let a = try tensor([1, 2, 3, 4], [2, 2]), b = try tensor([1, 2, 3, 4], [4])
        #expect(throws: TensorError.invalidShape("cannot compare shape 2x2 with the reference's 4: shapes must be equal")) {
            try TensorComparison(actual: a, reference: b)
        }
        let half = try b.converted(to: .float16)
        let error = #expect(throws: TensorError.self) { try TensorComparison(actual: half, reference: b) }
        #expect(error?.description.contains("element type is float16, expected float") == true, "\(String(describing: error))")
    }

    /// Integers must match exactly, tolerances aside; 2^53 and 2^53 + 1 are one Double but two int64s.
    @Test func integersCompareExactly() throws {
        let big: Int64 = 1 << 53
        let reference = try Tensor(shape: [3], elements: [big, 1, 7])
        let actual = try Tensor(shape: [3], elements: [big + 1, 1, 8])
        let c = try TensorComparison(actual: actual, reference: reference, tolerance: ComparisonTolerance(rtol: 1, atol: 10))
        #expect(c.failingElements == 2)
        #expect(c.tolerance == ComparisonTolerance(rtol: 0, atol: 0))
        #expect(c.topK == nil)
    }

    @Test func float16IsComparedThroughExactWidening() throws {
        let b = try tensor([0.5, 1, 2]).converted(to: .float16)
        let a = try tensor([0.5, 1, 2.001953125]).converted(to: .float16)  // one float16 step above 2
        let c = try TensorComparison(actual: a, reference: b)
        #expect(c.maxAbsError == 0.001953125)
        #expect(c.dtype == "float16")
    }

    /// Several 64 Ki blocks (parallel path): errors are a shuffled 0…n−1, so every statistic is known.
    @Test(arguments: [1, 2, 65_535, 65_537, 1 << 20 | 3])
    func largeTensorsGiveExactOrderStatistics(count: Int) throws {
        var values = (0..<count).map { Double($0) }
        var generator = SeededGenerator(seed: 7)
        values.shuffle(using: &generator)
        let actual = try Tensor(shape: [count], elements: values)
        let reference = try Tensor(shape: [count], elements: [Double](repeating: 0, count: count))
        let c = try TensorComparison(actual: actual, reference: reference, tolerance: ComparisonTolerance(rtol: 0, atol: 0.5))
        let n = Double(count)
        #expect(c.maxAbsError == n - 1)
        #expect(close(c.meanAbsError, (n - 1) / 2))
        #expect(close(c.medianAbsError, (n - 1) / 2))
        #expect(close(c.p99AbsError, 0.99 * (n - 1)))
        #expect(c.failingElements == count - 1)  // only the 0 is within atol
        #expect(c.relativeL2 == (count == 1 ? 0 : .infinity))  // reference all zeros
    }

    /// Runs of equal errors must not slow the selection down or shift the answer.
    @Test func quantilesWithManyTies() throws {
        let count = 200_001
        let reference = try tensor([Float](repeating: 1, count: count))
        let actual = try tensor((0..<count).map { $0 % 100 == 0 ? 3 : 1 })
        let c = try TensorComparison(actual: actual, reference: reference)
        #expect(c.medianAbsError == 0)
        // 198,000 zeros then 2,001 twos: position 0.99 · 200,000 = 198,000 is the first 2.
        #expect(c.p99AbsError == 2)
        #expect(c.failingElements == 2001)
    }

    @Test func encodesInfinitiesForJSON() throws {
        let a = try tensor([1, 2])
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let c = try TensorComparison(actual: a, reference: a)
        let json = String(decoding: try encoder.encode(c), as: UTF8.self)
        #expect(json.contains("\"psnr\":\"inf\""))
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try decoder.decode(TensorComparison.self, from: Data(json.utf8)) == c)
    }
}

extension Double {
    fileprivate func isApproximatelyEqual(_ other: Double) -> Bool { abs(self - other) <= 1e-12 }
}
