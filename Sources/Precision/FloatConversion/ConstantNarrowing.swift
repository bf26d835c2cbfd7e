import FoundationEssentials
import ONNX
import Tensors

/// What happens to non-zero float32 constants too small for the target type's smallest subnormal.
public enum TinyValuePolicy: String, Sendable, Codable, CaseIterable {
    /// Raise them to ± the smallest subnormal (float16: 5.96e-8), so they stay non-zero.
    case clamp
    /// Let them round to zero.
    case zero
}

/// One constant whose values the target type cannot hold, and what was done to them.
public struct ConstantClamp: Sendable, Codable, Equatable {
    public var tensor: String
    /// Values beyond the largest finite value of the target, set to ± that value.
    public var overflow: Int
    /// Non-zero values below the smallest subnormal of the target (clamped or zeroed per policy).
    public var tiny: Int
    public var largestAbs: Double
}

/// Narrows float32 tensor data to float16 or bfloat16 in one pass over the bytes (no decoded copy:
/// weights of a 575 MB model must not be held twice), clamping to the target's real limits.
enum ConstantNarrowing {
    /// Converts `proto` (float32) to `target` in place; returns the clamp record if any value needed one.
    /// With `scale`, the data are a folded layer's old weights and the values narrowed are the scaled ones.
    static func narrow(_ proto: inout Onnx_TensorProto, to target: DType, tiny: TinyValuePolicy,
                       scale: PendingScale? = nil) throws(ONNXError) -> ConstantClamp? {
        precondition(target == .float16 || target == .bfloat16)
        guard proto.dataType == DType.float32.rawValue else { return nil }
        let count = proto.dims.reduce(1) { $0 * Int($1) }
        if let scale, scale.rows * scale.inner != count {
            throw .tensor(name: proto.name, reason: "folded weights of \(count) values scaled as \(scale.rows) rows of \(scale.inner) (a HalfPipe bug)")
        }
        var counts: RawFloatKernels.NarrowCounts?
        // One C pass reads the float32 bytes where they are (a weight sliced from the model file
        // starts at any byte), rounds, counts and repairs; the output is written once.
        func convert(_ raw: UnsafeRawBufferPointer) -> Data {
            FreshBytes.make(count: count * 2) { out in
                counts = RawFloatKernels.narrow(raw, into: out, count: count, bfloat16: target == .bfloat16, clampTiny: tiny == .clamp,
                                                scale: scale.map { ($0.rows, $0.inner, $0.factors) })
            }
        }
        if proto.hasRawData {
            guard proto.rawData.count == count * 4 else {
                throw .tensor(name: proto.name, reason: "raw_data has \(proto.rawData.count) bytes; \(count) float32 values need \(count * 4)")
            }
            proto.rawData = proto.rawData.withUnsafeBytes(convert)
        } else {
            guard proto.floatData.count == count else {
                throw .tensor(name: proto.name, reason: "float_data has \(proto.floatData.count) values; dims \(proto.dims) need \(count)")
            }
            proto.rawData = proto.floatData.withUnsafeBytes(convert)
            proto.floatData = []
        }
        proto.dataType = target.rawValue
        guard let counts, counts.overflow > 0 || counts.tiny > 0 else { return nil }
        return ConstantClamp(tensor: proto.name, overflow: counts.overflow, tiny: counts.tiny,
                             largestAbs: Double(counts.largestAbs))
    }
}
