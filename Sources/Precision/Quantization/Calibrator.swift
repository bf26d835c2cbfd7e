import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a tensor's INT8 range is chosen from its streamed statistics.
public enum CalibrationMethod: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The whole observed range.
    case minMax
    /// TensorRT's entropy calibration (EntropyCalibration2): the |x| threshold whose 128-level
    /// quantization of the histogram loses the least information (smallest KL divergence).
    case entropy
    /// The |x| below which this percentage of the values lie (e.g. 99.999).
    case percentile(Double)

    public init?(name: String, percentile: Double = 99.999) {
        switch name.lowercased() {
        case "minmax", "min-max", "max": self = .minMax
        case "entropy", "kl": self = .entropy
        case "percentile": self = .percentile(percentile)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .minMax: "minmax"
        case .entropy: "entropy"
        case .percentile(let p): "percentile \(p)"
        }
    }

    /// The algorithm's name in a TensorRT calibration cache header (`TRT-<version>-<name>`).
    /// TensorRT has no percentile calibrator; its legacy calibrator is the quantile one.
    public var cacheAlgorithm: String {
        switch self {
        case .minMax: "MinMaxCalibration"
        case .entropy: "EntropyCalibration2"
        case .percentile: "LegacyCalibration"
        }
    }
}

/// A tensor's calibrated real range. Symmetric ranges are [−amax, amax].
public struct TensorRange: Sendable, Codable, Equatable {
    public var min: Float
    public var max: Float

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }

    public init(amax: Float) { self.init(min: -amax, max: amax) }

    /// The largest magnitude the range holds.
    public var amax: Float { Swift.max(abs(min), abs(max)) }
}

/// Ranges from statistics: one calibration method, applied tensor by tensor.
public enum Calibrator {
    /// TensorRT's entropy search quantizes to 128 levels (the positive half of int8).
    static let entropyLevels = 128

    /// The range of one tensor. Symmetric: [−t, t] for the method's |x| threshold t. Asymmetric:
    /// the observed [min, max], widened to hold 0 and clipped to ±t (minmax clips nothing).
    public static func range(of value: ActivationStatistics.Value, method: CalibrationMethod, symmetric: Bool) -> TensorRange {
        guard value.min <= value.max else { return TensorRange(min: 0, max: 0) }  // nothing finite seen
        let threshold: Float
        switch method {
        case .minMax:
            threshold = value.largestAbs
        case .entropy:
            threshold = value.histogram.map { Float(entropyThreshold($0)) } ?? value.largestAbs
        case .percentile(let p):
            threshold = value.histogram.map { Float(percentileThreshold($0, percent: p)) } ?? value.largestAbs
        }
        let t = Swift.min(threshold, value.largestAbs)
        if symmetric { return TensorRange(amax: t) }
        return TensorRange(min: Swift.max(Swift.min(value.min, 0), -t), max: Swift.min(Swift.max(value.max, 0), t))
    }

    /// TensorRT's entropy calibration over a histogram of |x| (the scheme of NVIDIA's
    /// pytorch-quantization `_compute_amax_entropy`): bin 0 takes bin 1's count (zeros dominate
    /// after ReLU and would swamp the comparison); for each candidate i from 128 bins up, P is the
    /// first i bins with everything beyond folded into the last, Q is those i bins merged into 128
    /// groups and spread evenly back over the group's non-empty bins; the smallest KL(P‖Q) wins, the
    /// last one on ties, and the threshold is bin i's upper edge.
    ///
    /// Q is constant over each group's non-empty bins, so KL(P‖Q) = Σ p log p − Σ_groups P_g log q_g
    /// comes from prefix sums in 128 steps per candidate instead of i (and 128 logarithms instead of
    /// i): the reference's O(bins²) becomes O(bins · 128).
    public static func entropyThreshold(_ histogram: AbsHistogram) -> Double {
        var bins = histogram.counts.map(Double.init)
        bins[0] += Double(histogram.zeros)
        let levels = entropyLevels
        guard histogram.range > 0, bins.count > levels else { return histogram.range }
        bins[0] = bins[1]
        let n = bins.count
        // Prefix sums: counts, non-empty bins, and b·log b.
        var sum = [Double](repeating: 0, count: n + 1), nonEmpty = [Double](repeating: 0, count: n + 1), bLogB = [Double](repeating: 0, count: n + 1)
        for j in 0..<n {
            sum[j + 1] = sum[j] + bins[j]
            nonEmpty[j + 1] = nonEmpty[j] + (bins[j] > 0 ? 1 : 0)
            bLogB[j + 1] = bLogB[j] + (bins[j] > 0 ? bins[j] * log(bins[j]) : 0)
        }
        let total = sum[n]
        guard total > 0 else { return histogram.range }
        let logTotal = log(total)

        var best = (divergence: Double.infinity, bins: n)
        for i in levels...n {
            let tail = total - sum[i], last = bins[i - 1]
            let windowMass = sum[i]  // Q's total before normalisation
            guard windowMass > 0, last > 0 || tail == 0 else { continue }  // p > 0 where q = 0: infinite
            // Σ p log p with p = b / total, the last bin holding the tail too.
            let lastP = (last + tail) / total
            var divergence = (bLogB[i - 1] / total - logTotal * sum[i - 1] / total) + (lastP > 0 ? lastP * log(lastP) : 0)
            // − Σ p log q: group g covers bins ⌈g·i/128⌉ ..< ⌈(g+1)·i/128⌉ (exact: 128 is a power of two).
            var start = 0
            for g in 0..<levels {
                let end = ((g + 1) * i + levels - 1) / levels
                let mass = sum[end] - sum[start], members = nonEmpty[end] - nonEmpty[start]
                if mass > 0 {
                    let logQ = log(mass / members / windowMass)
                    // The group's bins carry p = b / total; the last bin also carries the tail.
                    divergence -= (mass + (end == i ? tail : 0)) / total * logQ
                }
                start = end
            }
            if divergence <= best.divergence { best = (divergence, i) }
        }
        return histogram.binWidth * Double(best.bins)
    }

    /// The upper edge of the first bin where the cumulative share of |x| reaches `percent`.
    public static func percentileThreshold(_ histogram: AbsHistogram, percent: Double) -> Double {
        let total = Double(histogram.total)
        guard total > 0, histogram.range > 0 else { return histogram.range }
        // The share as numpy's searchsorted(cumsum / total, p / 100) compares it, rounding included.
        let wanted = Swift.min(Swift.max(percent, 0), 100) / 100
        var running = Double(histogram.zeros)
        for (i, count) in histogram.counts.enumerated() {
            running += Double(count)
            if running / total >= wanted { return histogram.binWidth * Double(i + 1) }
        }
        return histogram.range
    }

    /// The expected relative RMS error (‖q(x) − x‖ / ‖x‖) of quantizing values distributed as
    /// `histogram` symmetrically to `levels` steps on each side of zero up to `amax`: rounding noise
    /// (step²/12) inside, the clipped distance outside. Values are taken at their bin's centre.
    /// High-range tensors with their mass near zero (box regressions, scores before a softmax)
    /// score badly here: the measure that keeps them in float.
    /// `step` is the quantization step (default: symmetric int8's amax / 127; asymmetric uint8
    /// ranges pass (max − min) / 255).
    public static func relativeError(_ histogram: AbsHistogram, amax: Double, step: Double? = nil) -> Double {
        guard histogram.range > 0, amax > 0 else { return 0 }
        let step = step ?? amax / 127
        var noise = 0.0, signal = 0.0
        for (i, count) in histogram.counts.enumerated() where count > 0 {
            let x = (Double(i) + 0.5) * histogram.binWidth
            let n = Double(count)
            signal += n * x * x
            // Values under half a step round to zero: their error is themselves.
            noise += n * (x > amax ? (x - amax) * (x - amax) : Swift.min(x * x, step * step / 12))
        }
        return signal > 0 ? (noise / signal).squareRoot() : 0
    }
}
