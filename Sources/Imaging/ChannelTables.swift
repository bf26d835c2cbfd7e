import CKernels
import FoundationEssentials
import Tensors

/// Normalization and the cast as lookup tables: every output element is a function of one uint8
/// level and its channel, so 256 entries per channel replace the arithmetic, and every output type
/// costs the same single load. Pad values come from the same formula.
///
/// The formula, in float32 without fused multiply-add, is x = level * a[c] + b[c] with
/// a = scale / std and b = -mean / std (rounded once from double). With the defaults that is
/// exactly numpy's `img.astype(float32) * (1 / 255)`; float16 and bfloat16 are that float32 value
/// rounded to nearest even, so they equal a conversion of our float32 output.
struct ChannelTables {
    let elementSize: Int
    /// outChannels * 256 elements, channel-major, as raw little-endian bytes.
    let table: [UInt8]
    /// One element per output channel: the pad value through the same formula.
    let pad: [UInt8]
    /// The formula's a and b per output channel, which the SIMD output stage uses directly.
    let scale: [Float], bias: [Float]

    init(spec: PreprocessSpec) {
        let dtype = spec.dtype
        elementSize = dtype == .float32 ? 4 : (dtype == .uint8 || dtype == .int8 ? 1 : 2)
        var table: [UInt8] = [], pad: [UInt8] = []
        table.reserveCapacity(3 * 256 * elementSize)
        let (a, b) = Self.coefficients(spec)
        for c in 0..<3 {
            for level in 0..<256 { Self.append(Float(level) * a[c] + b[c], level: Double(level), spec: spec, to: &table) }
            Self.append(Float(spec.padValue) * a[c] + b[c], level: spec.padValue, spec: spec, to: &pad)
        }
        self.table = table
        self.pad = pad
        scale = a
        bias = b
    }

    /// Per output channel, a = scale / std and b = -mean / std, each rounded once to float32 (the
    /// tables are built from them, and the SIMD output stage computes with them).
    private static func coefficients(_ spec: PreprocessSpec) -> (a: [Float], b: [Float]) {
        ((0..<3).map { Float(spec.scale / spec.std[$0]) }, (0..<3).map { Float(-spec.mean[$0] / spec.std[$0]) })
    }

    private static func append(_ x: Float, level: Double, spec: PreprocessSpec, to bytes: inout [UInt8]) {
        func little(_ v: UInt32, _ n: Int) { for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        switch spec.dtype {
        case .float32: little(x.bitPattern, 4)
        case .float16: little(UInt32(hp_f32_to_f16_scalar(x)), 2)
        case .bfloat16: little(UInt32(hp_f32_to_bf16_scalar(x)), 2)
        case .uint8: bytes.append(UInt8(max(0, min(255, level.rounded(.toNearestOrEven)))))
        case .int8:
            let q = (Double(x) / spec.int8Scale).rounded(.toNearestOrEven) + Double(spec.int8ZeroPoint)
            bytes.append(UInt8(bitPattern: Int8(max(-128, min(127, q)))))
        }
    }
}

extension PreprocessSpec.OutputType {
    /// The tensor element type of the batch.
    public var dtype: DType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .uint8: .uint8
        case .int8: .int8
        }
    }
}
