import Foundation
import Precision
import Tensors
import TestSupport
import Testing

/// The calibrators against an independent numpy statement of TensorRT's entropy scheme, and the
/// INT8 arithmetic against its definition, on edge values and sweeps.
struct CalibratorTests {
    /// |x| histograms of the shapes activations have: normal, Laplace (heavy tails), ReLU'd
    /// (half zeros), a few huge outliers, and sparse data with empty bins.
    static func histograms() -> [AbsHistogram] {
        var generator = SeededGenerator(seed: 11)
        func normal() -> Float {
            let u = Float.random(in: Float.ulpOfOne..<1, using: &generator), v = Float.random(in: 0..<1, using: &generator)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        var samples: [[Float]] = []
        samples.append((0..<50_000).map { _ in normal() })
        samples.append((0..<50_000).map { _ in let u = Float.random(in: -0.5..<0.5, using: &generator); return (u < 0 ? 1 : -1) * log(1 - 2 * abs(u)) })
        samples.append((0..<50_000).map { _ in max(0, normal()) })
        samples.append((0..<50_000).map { i in i % 5000 == 0 ? 300 : normal() })
        samples.append((0..<3_000).map { i in Float(i % 7) * 0.25 })
        return samples.map { values in
            var h = AbsHistogram(bins: 2048)
            values.withUnsafeBufferPointer { h.add($0) }
            return h
        }
    }

    @Test func entropyAndPercentileMatchTheNumpyReference() throws {
        let histograms = Self.histograms()
        let dir = try TestMaterial.temporaryDirectory("entropy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = histograms.flatMap { $0.counts.map(Double.init) }
        let path = dir.appendingPathComponent("histograms.npy").path
        try NPY.write(try Tensor(shape: try Shape([histograms.count, 2048]), elements: rows), to: path)
        let (status, output) = try TestMaterial.runPython("entropy-reference.py", [path])
        try #require(status == 0, "\(output)")
        struct Row: Decodable {
            var divergences: [Double?]
            var percentile_99_9: Int
            var percentile_99_99: Int
        }
        // Infinity comes out of json.dump as the bare word Infinity, which JSONDecoder rejects.
        let rowsOut = try JSONDecoder().decode([Row].self, from: Data(output.replacingOccurrences(of: "Infinity", with: "null").utf8))
        for (h, reference) in zip(histograms, rowsOut) {
            let chosen = Int((Calibrator.entropyThreshold(h) / h.binWidth).rounded())
            let divergences = reference.divergences.map { $0 ?? .infinity }
            let best = divergences.min()!
            // Ours picks a candidate numpy also finds minimal (ties within rounding of the sums).
            let ours = divergences[chosen - 128]
            #expect(ours <= best * (1 + 1e-9) + 1e-12, "entropy picked \(chosen) bins (KL \(ours)), numpy's minimum is \(best) at \(divergences.firstIndex(of: best)! + 128)")
            #expect(Calibrator.percentileThreshold(h, percent: 99.9) == h.binWidth * Double(reference.percentile_99_9 + 1))
            #expect(Calibrator.percentileThreshold(h, percent: 99.99) == h.binWidth * Double(reference.percentile_99_99 + 1))
        }
    }

    /// Heavy tails: entropy clips below the largest value, which minmax keeps. (Isolated outliers
    /// far from the rest are kept by TensorRT's scheme too: every window whose last bin is empty
    /// while mass lies beyond it has an infinite divergence.)
    @Test func entropyClipsHeavyTailsThatMinMaxKeeps() {
        let h = Self.histograms()[1]  // Laplace
        var value = ActivationStatistics.Value()
        value.histogram = h
        let largest = Float(h.binWidth) * Float(h.counts.lastIndex { $0 > 0 }! + 1)
        (value.min, value.max, value.largestAbs) = (-largest, largest, largest)
        let entropy = Calibrator.entropyThreshold(h)
        #expect(entropy < Double(value.largestAbs) * 0.9, "entropy threshold \(entropy), largest \(value.largestAbs)")
        #expect(Calibrator.range(of: value, method: .minMax, symmetric: true) == TensorRange(amax: value.largestAbs))
        #expect(Calibrator.range(of: value, method: .entropy, symmetric: true).amax == Float(entropy))
        let asymmetric = Calibrator.range(of: value, method: .entropy, symmetric: false)
        #expect(asymmetric.min == -Float(entropy) && asymmetric.max == Float(entropy))
    }

    @Test func emptyAndConstantStatisticsGiveSafeRanges() {
        var empty = ActivationStatistics.Value()
        #expect(Calibrator.range(of: empty, method: .entropy, symmetric: true) == TensorRange(min: 0, max: 0))
        empty.histogram = AbsHistogram(bins: 2048)
        #expect(Calibrator.entropyThreshold(empty.histogram!) == 0)
        var zeros = AbsHistogram(bins: 2048)
        [Float](repeating: 0, count: 10).withUnsafeBufferPointer { zeros.add($0) }
        #expect(Calibrator.entropyThreshold(zeros) == 0)
        #expect(Calibrator.percentileThreshold(zeros, percent: 99.9) == 0)
        // A zero range quantizes with scale 1 (ONNX Runtime's rule), never a zero or subnormal scale.
        #expect(QuantizationParameters.activation(TensorRange(min: 0, max: 0), symmetric: true).scale == 1)
        #expect(QuantizationParameters.activation(TensorRange(min: 0, max: 1e-40), symmetric: false).scale == 1)
    }

    @Test func relativeErrorGrowsWhenTheRangeIsDominatedByRareValues() {
        let hs = Self.histograms()
        let typical = Calibrator.relativeError(hs[0], amax: Calibrator.entropyThreshold(hs[0]))
        let outliersKept = Calibrator.relativeError(hs[3], amax: 300)
        #expect(typical < 0.05, "normal data at its entropy threshold: \(typical)")
        #expect(outliersKept > typical * 3, "full range with outliers: \(outliersKept) vs \(typical)")
    }

    @Test func activationParametersFollowORTConventions() {
        let s = QuantizationParameters.activation(TensorRange(min: -2, max: 1), symmetric: true)
        #expect(s.scale == 2 / 127 && s.zeroPoint == 0 && s.type == .int8)
        let a = QuantizationParameters.activation(TensorRange(min: -1, max: 3), symmetric: false)
        #expect(a.type == .uint8 && a.scale == Float(4.0 / 255) && a.zeroPoint == 64)
        // A range not holding zero is widened to hold it: zero stays exact.
        let positive = QuantizationParameters.activation(TensorRange(min: 2, max: 4), symmetric: false)
        #expect(positive.zeroPoint == 0 && positive.quantize(0) == 0)
        // Round half to even, clipping at the type's bounds.
        let unit = QuantizationParameters(scale: 1, zeroPoint: 0, type: .int8)
        for (x, q) in [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (126.5, 126), (127.5, 127), (500, 127), (-500, -128)] as [(Float, Int32)] {
            #expect(unit.quantize(x) == q, "\(x)")
        }
        let u = QuantizationParameters(scale: 1, zeroPoint: 10, type: .uint8)
        #expect(u.quantize(-20) == 0 && u.quantize(300) == 255 && u.dequantize(u.quantize(7)) == 7)
        let relu = QuantizationParameters.nonNegative(amax: 255)
        #expect(relu.zeroPoint == -128 && relu.quantize(-3) == -128 && relu.dequantize(relu.quantize(100)) == 100)
    }

    /// Every axis of small weights of every rank: each channel's largest |w| maps to ±127 and each
    /// value to round(w / scale) of its own channel.
    @Test func weightsQuantizePerChannelAlongEachAxis() throws {
        var generator = SeededGenerator(seed: 3)
        for dims in [[4], [3, 5], [2, 3, 4], [4, 1, 3, 3], [1, 2, 1, 2]] {
            let count = dims.reduce(1, *)
            let values = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
            for axis in [nil] + dims.indices.map(Optional.some) {
                let (q, scales) = WeightQuantization.quantize(values, dims: dims, axis: axis)
                let channels = axis.map { dims[$0] } ?? 1
                let inner = axis.map { dims[($0 + 1)...].reduce(1, *) } ?? count
                #expect(scales.count == channels)
                var amax = [Float](repeating: 0, count: channels)
                for (k, v) in values.enumerated() { amax[(k / inner) % channels] = max(amax[(k / inner) % channels], abs(v)) }
                for c in 0..<channels { #expect(scales[c] == amax[c] / 127) }
                for (k, v) in values.enumerated() {
                    let c = (k / inner) % channels
                    #expect(Int32(q[k]) == Int32((v / scales[c]).rounded(.toNearestOrEven)), "dims \(dims) axis \(String(describing: axis)) k \(k)")
                }
                #expect(q.allSatisfy { $0 >= -127 }, "-128 is never used: symmetric")
            }
        }
        // A channel of zeros keeps scale 1 and quantizes to zeros.
        let (q, scales) = WeightQuantization.quantize([0, 0, 1, -2], dims: [2, 2], axis: 0)
        #expect(scales == [1, 2 / 127] && q == [0, 0, 64, -127])
    }

    @Test func biasesUseInputTimesWeightScale() {
        let (q, scales, clipped) = WeightQuantization.bias([1, -2, 0.5], inputScale: 0.5, weightScales: [0.1, 0.2, 0.25])
        #expect(scales == [0.05, 0.1, 0.125].map(Float.init) && clipped == 0)
        #expect(q == [20, -20, 4])
        let (big, _, overflow) = WeightQuantization.bias([1e6, -1e6], inputScale: 1e-6, weightScales: [1e-6])
        #expect(overflow == 2 && big == [Int32.max, Int32.min])
    }
}
