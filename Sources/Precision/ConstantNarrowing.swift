import CKernels
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
    /// Bit patterns of |x| (as UInt32) from which float32 rounds to infinity, and below which it rounds
    /// to zero; the target's largest finite and smallest subnormal values as 16-bit patterns.
    struct Limits {
        let overflowBits: UInt32
        let zeroBelowBits: UInt32
        let largest: UInt16
        let smallest: UInt16

        static func of(_ target: DType) -> Limits {
            if target == .bfloat16 {
                // bfloat16 keeps float32's exponent: only the top ulp rounds up to infinity, and only
                // float32 subnormals below 2^-134 vanish.
                return Limits(overflowBits: 0x7F7F_8000, zeroBelowBits: 0x0000_8001, largest: 0x7F7F, smallest: 0x0001)
            }
            // float16: |x| >= 65520 rounds to infinity; |x| <= 2^-25 rounds to zero (ties to even).
            return Limits(overflowBits: 0x4780_0000 - 0x1000, zeroBelowBits: 0x3300_0001, largest: 0x7BFF, smallest: 0x0001)
        }
    }

    /// Converts `proto` (float32) to `target` in place; returns the clamp record if any value needed one.
    static func narrow(_ proto: inout Onnx_TensorProto, to target: DType, tiny: TinyValuePolicy) throws(ONNXError) -> ConstantClamp? {
        precondition(target == .float16 || target == .bfloat16)
        guard proto.dataType == DType.float32.rawValue else { return nil }
        let count = proto.dims.reduce(1) { $0 * Int($1) }
        let limits = Limits.of(target)
        var clamp: ConstantClamp?
        var out = Data(count: count * 2)
        func convert(_ raw: UnsafeRawBufferPointer) {
            out.withUnsafeMutableBytes { dst in
                let dest = dst.bindMemory(to: UInt16.self)
                func narrow(_ source: UnsafeBufferPointer<Float>, _ d: UnsafeMutableBufferPointer<UInt16>) {
                    if target == .float16 { FloatConversion.float32ToFloat16(source, d) } else { FloatConversion.float32ToBFloat16(source, d) }
                }
                // Chunk by chunk on one core: measured faster than the multi-core conversion here, where
                // the output's fresh pages are the cost. Aligned data (protobuf-decoded, folded
                // weights) is read in place; a weight sliced from the model file can start at any byte
                // and goes through a small aligned buffer (a whole aligned copy of a 400 MB tensor
                // would double the peak).
                let aligned = Int(bitPattern: raw.baseAddress) % MemoryLayout<Float>.alignment == 0
                let chunk = 1 << 16
                let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: aligned ? 0 : min(chunk, max(count, 1)))
                defer { scratch.deallocate() }
                var start = 0
                while start < count {
                    let n = min(chunk, count - start)
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[(start * 4)..<((start + n) * 4)])
                    let source: UnsafeBufferPointer<Float>
                    if aligned {
                        source = bytes.bindMemory(to: Float.self)
                    } else {
                        let part = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
                        UnsafeMutableRawBufferPointer(part).copyMemory(from: bytes)
                        source = UnsafeBufferPointer(part)
                    }
                    narrow(source, UnsafeMutableBufferPointer(rebasing: dest[start..<(start + n)]))
                    start += n
                }
                clamp = fix(raw, dest, limits: limits, tiny: tiny, name: proto.name)
            }
        }
        if proto.hasRawData {
            guard proto.rawData.count == count * 4 else {
                throw .tensor(name: proto.name, reason: "raw_data has \(proto.rawData.count) bytes; \(count) float32 values need \(count * 4)")
            }
            proto.rawData.withUnsafeBytes(convert)
        } else {
            guard proto.floatData.count == count else {
                throw .tensor(name: proto.name, reason: "float_data has \(proto.floatData.count) values; dims \(proto.dims) need \(count)")
            }
            proto.floatData.withUnsafeBytes(convert)
            proto.floatData = []
        }
        proto.rawData = out
        proto.dataType = target.rawValue
        return clamp
    }

    /// Counts and repairs the values the plain rounding turned into infinities or zeros.
    private static func fix(_ raw: UnsafeRawBufferPointer, _ dest: UnsafeMutableBufferPointer<UInt16>,
                            limits: Limits, tiny: TinyValuePolicy, name: String) -> ConstantClamp? {
        var over = 0, small = 0
        var maxBits: UInt32 = 0
        hp_f32_range_scan(raw.baseAddress, dest.count, limits.overflowBits, limits.zeroBelowBits, &over, &small, &maxBits)
        guard over > 0 || small > 0 else { return nil }
        // Rare: repair where the rounding gave ±0 or ±Inf (only those can need it).
        let infinity: UInt16 = limits.largest &+ 1
        for i in dest.indices {
            let d = dest[i] & 0x7FFF
            guard d == 0 || d == infinity else { continue }
            let b = raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
            let a = b & 0x7FFF_FFFF, sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
            if a >= limits.overflowBits && a < 0x7F80_0000 {
                dest[i] = sign | limits.largest
            } else if a != 0 && a < limits.zeroBelowBits && tiny == .clamp {
                dest[i] = sign | limits.smallest
            }
        }
        return ConstantClamp(tensor: name, overflow: over, tiny: small, largestAbs: Double(Float(bitPattern: maxBits)))
    }
}
