import FoundationEssentials
import Tensors

/// Scale and zero point of a quantized tensor, with ONNX Runtime's conventions (which TensorRT's
/// explicit Q/DQ shares): q = clip(round_half_even(x / scale) + zero point), x ≈ (q − zero point) · scale.
public struct QuantizationParameters: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32
    /// `.int8` or `.uint8`.
    public var type: DType

    public init(scale: Float, zeroPoint: Int32, type: DType) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.type = type
    }

    /// Symmetric int8 activations use [−127, 127] (TensorRT's range: −128 has no positive twin);
    /// asymmetric ones uint8 [0, 255].
    public var bounds: ClosedRange<Int32> { type == .uint8 ? 0...255 : -127...127 }

    /// Parameters for an activation with this range. The range is widened to hold 0 (a zero must
    /// quantize exactly: padding and ReLU produce it). A range too small for a normal float scale
    /// gets scale 1 and zero point 0, as ONNX Runtime does.
    public static func activation(_ range: TensorRange, symmetric: Bool) -> QuantizationParameters {
        if symmetric {
            let scale = range.amax / 127
            return scale.isNormal ? .init(scale: scale, zeroPoint: 0, type: .int8) : .init(scale: 1, zeroPoint: 0, type: .int8)
        }
        let lo = Double(Swift.min(range.min, 0)), hi = Double(Swift.max(range.max, 0))
        let scale = Float((hi - lo) / 255)
        guard scale.isNormal else { return .init(scale: 1, zeroPoint: 0, type: .uint8) }
        let zero = (-lo / Double(scale)).rounded(.toNearestOrEven)
        return .init(scale: scale, zeroPoint: Int32(Swift.min(Swift.max(zero, 0), 255)), type: .uint8)
    }

    /// Parameters that hold [0, amax] in int8 with all 255 steps: zero point −128. For tensors that
    /// are never negative by construction (a ReLU's output), twice the resolution of the symmetric
    /// range, and the ReLU itself becomes the clip at the zero point.
    public static func nonNegative(amax: Float) -> QuantizationParameters {
        let scale = amax / 255
        return scale.isNormal ? .init(scale: scale, zeroPoint: -128, type: .int8) : .init(scale: 1, zeroPoint: -128, type: .int8)
    }

    public func quantize(_ x: Float) -> Int32 {
        let q = (Double(x) / Double(scale)).rounded(.toNearestOrEven) + Double(zeroPoint)
        let lower = type == .uint8 ? 0.0 : -128.0, upper = type == .uint8 ? 255.0 : 127.0
        return Int32(Swift.min(Swift.max(q, lower), upper))
    }

    public func dequantize(_ q: Int32) -> Float { Float(q - zeroPoint) * scale }
}

/// Weights in int8, symmetric [−127, 127] per output channel (or per tensor), and biases in
/// int32 at the scale input × weight, zero point 0: what QLinearConv/QLinearMatMul and TensorRT's
/// explicit quantization expect.
public enum WeightQuantization {
    /// `values` of shape `dims`, quantized along `axis` (nil: one scale for the tensor). A scale
    /// below `minimumScales[c]` (when given: one per channel, or one per element of a per-tensor
    /// bias, whose largest applies) is raised to it.
    /// `limit` is the largest magnitude stored: 127, or 63 for 7-bit weights (`reduceRange`).
    public static func quantize(_ values: [Float], dims: [Int], axis: Int?, minimumScales: [Float] = [], limit: Float = 127) -> (values: [Int8], scales: [Float]) {
        let channels = axis.map { dims[$0] } ?? 1
        // The element at flat index k belongs to channel (k / inner) % channels.
        let inner = axis.map { dims[($0 + 1)...].reduce(1, *) } ?? values.count
        var amax = [Float](repeating: 0, count: channels)
        for (k, v) in values.enumerated() where v.isFinite {
            let c = (k / Swift.max(inner, 1)) % channels
            amax[c] = Swift.max(amax[c], abs(v))
        }
        // An all-zero channel keeps scale 1 (any scale gives zeros; 0 would divide by zero).
        var scales = amax.map { a -> Float in let s = a / limit; return s.isNormal ? s : 1 }
        if !minimumScales.isEmpty {
            for c in scales.indices {
                let least = channels == minimumScales.count ? minimumScales[c] : minimumScales.max()!
                if least.isFinite && scales[c] < least { scales[c] = least }
            }
        }
        var q = [Int8](repeating: 0, count: values.count)
        for (k, v) in values.enumerated() {
            let c = (k / Swift.max(inner, 1)) % channels
            let r = (Double(v) / Double(scales[c])).rounded(.toNearestOrEven)
            q[k] = Int8(Swift.min(Swift.max(r.isNaN ? 0 : r, -Double(limit)), Double(limit)))
        }
        return (q, scales)
    }

    /// A bias per output channel at scale input · weight[c]. A value past int32 (a tiny input or
    /// weight scale) is clipped and counted, for the report.
    public static func bias(_ values: [Float], inputScale: Float, weightScales: [Float]) -> (values: [Int32], scales: [Float], clipped: Int) {
        let scales = values.indices.map { inputScale * weightScales[weightScales.count == 1 ? 0 : $0] }
        var clipped = 0
        let q = values.indices.map { i -> Int32 in
            let r = (Double(values[i]) / Double(scales[i])).rounded(.toNearestOrEven)
            if r > Double(Int32.max) || r < Double(Int32.min) { clipped += 1 }
            return Int32(Swift.min(Swift.max(r.isNaN ? 0 : r, Double(Int32.min)), Double(Int32.max)))
        }
        return (q, scales, clipped)
    }
}
