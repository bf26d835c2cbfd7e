import FoundationEssentials

/// The taps of one axis of a separable resize, in the fixed-point form the kernel consumes: for each
/// output position, `taps` absolute source indices and weights in 1/2048 that sum to 2048.
///
/// The coordinates and weights follow OpenCV's `cv::resize` exactly (its double-precision scale,
/// float fractions, 11-bit weights rounded half to even), so our bilinear result differs from
/// OpenCV's only by its fixed-point vertical pass (at most one level). The GPU path uploads these
/// same tables, so both devices sample identically.
struct AxisTable: Equatable {
    var taps: Int
    var index: [Int32]
    var weight: [Int32]

    static let one: Int32 = 2048

    /// Positions `range` of a `source` -> `resized` resize.
    /// - Parameter areaUpscale: OpenCV's INTER_AREA when some axis grows: linear taps with
    ///   area-style fractions (the flag applies to both axes then, as in OpenCV).
    static func make(source: Int, resized: Int, range: Range<Int>, interpolation: PreprocessSpec.Interpolation, areaUpscale: Bool) -> AxisTable {
        // OpenCV computes the inverse scale first and the scale from it; keep its exact doubles.
        let inverseScale = Double(resized) / Double(source)
        let scale = 1.0 / inverseScale
        if source == resized && interpolation != .area {
            return AxisTable(taps: 1, index: range.map { Int32($0) }, weight: Array(repeating: one, count: range.count))
        }
        switch interpolation {
        case .nearest:
            return AxisTable(taps: 1, index: range.map { Int32(min(Int((Double($0) * scale).rounded(.down)), source - 1)) },
                             weight: Array(repeating: one, count: range.count))
        case .area where !areaUpscale:
            return area(source: source, scale: scale, range: range)
        case .bilinear, .area:
            var index: [Int32] = [], weight: [Int32] = []
            index.reserveCapacity(range.count * 2); weight.reserveCapacity(range.count * 2)
            for d in range {
                var sx: Int, fx: Float
                if interpolation == .area {
                    sx = Int((Double(d) * scale).rounded(.down))
                    fx = Float(Double(d + 1) - Double(sx + 1) * inverseScale)
                    fx = fx <= 0 ? 0 : fx - fx.rounded(.down)
                } else {
                    fx = Float((Double(d) + 0.5) * scale - 0.5)
                    sx = Int(fx.rounded(.down))
                    fx -= Float(sx)
                }
                if sx < 0 { fx = 0; sx = 0 }
                if sx >= source - 1 { fx = 0; sx = source - 1 }
                index.append(Int32(sx)); index.append(Int32(min(sx + 1, source - 1)))
                weight.append(Int32(((1 - fx) * Float(one)).rounded(.toNearestOrEven)))
                weight.append(Int32((fx * Float(one)).rounded(.toNearestOrEven)))
            }
            return AxisTable(taps: 2, index: index, weight: weight)
        }
    }

    /// OpenCV's INTER_AREA for shrinking: each output averages the source cells it covers, partial
    /// cells by their covered fraction. Weights are quantized to 1/2048, the largest absorbing the
    /// rounding so every output's weights sum to exactly 2048.
    private static func area(source: Int, scale: Double, range: Range<Int>) -> AxisTable {
        var rows: [[(Int32, Double)]] = []
        for d in range {
            let f1 = Double(d) * scale, f2 = f1 + scale
            let cell = min(scale, Double(source) - f1)
            var s2 = Int(f2.rounded(.down))
            s2 = min(s2, source - 1)
            let s1 = min(Int(f1.rounded(.up)), s2)
            var taps: [(Int32, Double)] = []
            if Double(s1) - f1 > 1e-3 { taps.append((Int32(s1 - 1), (Double(s1) - f1) / cell)) }
            for s in s1..<max(s1, s2) { taps.append((Int32(s), 1 / cell)) }
            if f2 - Double(s2) > 1e-3 { taps.append((Int32(s2), min(min(f2 - Double(s2), 1), cell) / cell)) }
            if taps.isEmpty { taps.append((Int32(s2), 1)) }
            rows.append(taps)
        }
        let width = rows.map(\.count).max() ?? 1
        var index: [Int32] = [], weight: [Int32] = []
        for taps in rows {
            let total = taps.reduce(0.0) { $0 + $1.1 }
            var quantized = taps.map { Int32(($0.1 / total * Double(one)).rounded(.toNearestOrEven)) }
            let largest = quantized.indices.max { quantized[$0] < quantized[$1] }!
            quantized[largest] += one - quantized.reduce(0, +)
            for k in 0..<width {
                index.append(k < taps.count ? taps[k].0 : taps[taps.count - 1].0)
                weight.append(k < taps.count ? quantized[k] : 0)
            }
        }
        return AxisTable(taps: width, index: index, weight: weight)
    }

    /// The half-open range of source indices any tap reads.
    var sourceSpan: Range<Int> {
        guard let lo = index.min(), let hi = index.max() else { return 0..<0 }
        return Int(lo)..<(Int(hi) + 1)
    }
}
