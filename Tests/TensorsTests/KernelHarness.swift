import Foundation
import Testing
import Tensors

/// Every `FloatConversion` kernel behind one raw-buffer call, so the sweeps treat them alike.
/// `reference` names the numpy case whose input and output the kernel must reproduce.
enum Kernel: String, CaseIterable, Sendable, CustomStringConvertible {
    case f32ToF16, f16ToF32, f32ToBF16, bf16ToF32, u8ToF16, u8ToF32

    var description: String { rawValue }

    var reference: String {
        switch self {
        case .f32ToF16: "f32_to_f16"
        case .f16ToF32: "f16_to_f32"
        case .f32ToBF16: "f32_to_bf16"
        case .bf16ToF32: "bf16_to_f32"
        case .u8ToF16: "u8_imagenet_r_to_float16"
        case .u8ToF32: "u8_imagenet_r_to_float"
        }
    }

    var sourceSize: Int {
        switch self {
        case .f32ToF16, .f32ToBF16: 4
        case .f16ToF32, .bf16ToF32: 2
        case .u8ToF16, .u8ToF32: 1
        }
    }

    var destinationSize: Int {
        switch self {
        case .f32ToF16, .f32ToBF16, .u8ToF16: 2
        case .f16ToF32, .bf16ToF32, .u8ToF32: 4
        }
    }

    /// Converts `count` elements; pointers must be aligned for their element types.
    func run(_ src: UnsafeRawPointer?, _ dst: UnsafeMutableRawPointer?, count: Int,
             scale: Float = 1, bias: Float = 0, portableOnly: Bool) {
        func s<T>(_ t: T.Type) -> UnsafeBufferPointer<T> {
            UnsafeBufferPointer(start: src?.assumingMemoryBound(to: T.self), count: count)
        }
        func d<T>(_ t: T.Type) -> UnsafeMutableBufferPointer<T> {
            UnsafeMutableBufferPointer(start: dst?.assumingMemoryBound(to: T.self), count: count)
        }
        switch self {
        case .f32ToF16: FloatConversion.float32ToFloat16(s(Float.self), d(UInt16.self), portableOnly: portableOnly)
        case .f16ToF32: FloatConversion.float16ToFloat32(s(UInt16.self), d(Float.self), portableOnly: portableOnly)
        case .f32ToBF16: FloatConversion.float32ToBFloat16(s(Float.self), d(UInt16.self), portableOnly: portableOnly)
        case .bf16ToF32: FloatConversion.bfloat16ToFloat32(s(UInt16.self), d(Float.self), portableOnly: portableOnly)
        case .u8ToF16:
            FloatConversion.uint8ToFloat16(s(UInt8.self), d(UInt16.self), scale: scale, bias: bias, portableOnly: portableOnly)
        case .u8ToF32:
            FloatConversion.uint8ToFloat32(s(UInt8.self), d(Float.self), scale: scale, bias: bias, portableOnly: portableOnly)
        }
    }

    /// numpy's input and output bytes for this kernel, with the case's scale and bias.
    func referenceCase() throws -> (input: Data, output: Data, scale: Float, bias: Float) {
        let c = try Reference.manifest().conversion(reference)
        return (try Reference.data(c.input), try Reference.data(c.output), c.scale, c.bias)
    }
}

/// The two code paths every conversion has: the portable C loop and whatever `hp_best_isa()` picks.
enum KernelPath: String, CaseIterable, Sendable, CustomStringConvertible {
    case portable, dispatched
    var portableOnly: Bool { self == .portable }
    var description: String { self == .portable ? "portable" : "dispatched (\(FloatConversion.isa))" }
}

extension Kernel {
    /// Runs the kernel over a whole input (copied to an aligned buffer) and returns the output bytes.
    func convert(_ input: Data, scale: Float = 1, bias: Float = 0, path: KernelPath) -> [UInt8] {
        let count = input.count / sourceSize
        let src = AlignedBuffer(bytes: input.count)
        input.withUnsafeBytes { src.raw.copyMemory(from: $0) }
        var out = [UInt8](repeating: 0, count: count * destinationSize)
        out.withUnsafeMutableBytes { dst in
            run(src.raw.baseAddress, dst.baseAddress, count: count, scale: scale, bias: bias, portableOnly: path.portableOnly)
        }
        return out
    }
}

extension Kernel {
    /// numpy's input repeated to `count` elements (starting `sourceOffset` elements into an aligned
    /// buffer) and numpy's output repeated alike, for the large-buffer runs.
    func tiledReference(count n: Int, sourceOffset so: Int) throws
        -> (source: AlignedBuffer, expected: AlignedBuffer, input: Data, caseCount: Int, scale: Float, bias: Float) {
        let (input, output, scale, bias) = try referenceCase()
        let caseCount = input.count / sourceSize
        let src = AlignedBuffer(bytes: (n + so + 8) * sourceSize), want = AlignedBuffer(bytes: n * destinationSize)
        var filled = 0
        while filled < n {
            let k = min(caseCount, n - filled)
            input.withUnsafeBytes {
                src.raw.baseAddress!.advanced(by: (so + filled) * sourceSize).copyMemory(from: $0.baseAddress!, byteCount: k * sourceSize)
            }
            output.withUnsafeBytes {
                want.raw.baseAddress!.advanced(by: filled * destinationSize).copyMemory(from: $0.baseAddress!, byteCount: k * destinationSize)
            }
            filled += k
        }
        return (src, want, input, caseCount, scale, bias)
    }
}

/// "0x…" of element `i` of a little-endian byte image with `size`-byte elements.
func hexElement(_ bytes: Data, size: Int) -> (Int) -> String {
    { i in
        var v: UInt64 = 0
        for b in (0..<size).reversed() { v = v << 8 | UInt64(bytes[bytes.startIndex + i * size + b]) }
        return "0x" + String(v, radix: 16)
    }
}

func expectMatchesNumpy(_ actual: [UInt8], _ expected: Data, elementSize: Int, input: Data, inputSize: Int,
                        _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
    actual.withUnsafeBytes { a in
        expected.withUnsafeBytes { e in
            _ = expectSameBits(a, e, elementSize: elementSize, input: hexElement(input, size: inputSize), what(),
                               sourceLocation: sourceLocation)
        }
    }
}
