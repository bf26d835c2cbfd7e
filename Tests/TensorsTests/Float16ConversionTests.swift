import Foundation
import Testing
import Tensors

/// float16 ⇄ float32 against numpy's `astype`, bit for bit: every float16 pattern, and float32
/// ties, ±1 ulp around them, overflow, subnormals, NaN payloads and ~1M random bit patterns.
@Suite struct Float16ConversionTests {
    @Test(arguments: KernelPath.allCases)
    func float16ToFloat32MatchesNumpyForAllPatterns(path: KernelPath) throws {
        let (input, expected, _, _) = try Kernel.f16ToF32.referenceCase()
        #expect(input.count == 65536 * 2)
        let out = Kernel.f16ToF32.convert(input, path: path)
        expectMatchesNumpy(out, expected, elementSize: 4, input: input, inputSize: 2, "float16→float32, \(path)")
    }

    @Test(arguments: KernelPath.allCases)
    func float32ToFloat16MatchesNumpyOnBoundariesAndRandomBits(path: KernelPath) throws {
        let (input, expected, _, _) = try Kernel.f32ToF16.referenceCase()
        #expect(input.count / 4 > 1_000_000)
        let out = Kernel.f32ToF16.convert(input, path: path)
        expectMatchesNumpy(out, expected, elementSize: 2, input: input, inputSize: 4, "float32→float16, \(path)")
    }

    @Test func tensorConversionMatchesNumpy() throws {
        let m = try Reference.manifest()
        for (name, from, to) in [("f16_to_f32", DType.float16, DType.float32), ("f32_to_f16", .float32, .float16)] {
            let c = try m.conversion(name)
            let input = try Reference.data(c.input), expected = try Reference.data(c.output)
            let tensor = try input.withUnsafeBytes { try Tensor(dtype: from, shape: [c.count], bytes: $0) }
            let out = try tensor.converted(to: to)
            #expect(out.dtype == to && out.shape == tensor.shape)
            out.withUnsafeBytes { a in
                expected.withUnsafeBytes { e in
                    _ = expectSameBits(a, e, elementSize: to.byteSize!, input: hexElement(input, size: from.byteSize!),
                                       "Tensor.converted \(from)→\(to)")
                }
            }
        }
    }

    /// float16 → float32 → float16 gives back every pattern, NaN payloads and signalling NaNs too
    /// (numpy keeps the top payload bits and never quiets, so nothing is lost either way).
    @Test(arguments: KernelPath.allCases)
    func roundTripThroughFloat32IsIdentityForAllPatterns(path: KernelPath) {
        let all = (0...UInt16.max).map { $0 }
        let wide = Kernel.f16ToF32.convert(all.withUnsafeBytes { Data($0) }, path: path)
        let back = Kernel.f32ToF16.convert(Data(wide), path: path)
        let got = back.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        expectSameBits(got, all, input: hexInput(all), "float16→float32→float16, \(path)")
    }

    /// The scalar helper the range analysis uses agrees with numpy's float32→float16→float32.
    @Test func roundTripFloat16HelperMatchesNumpy() throws {
        let c = try Reference.manifest().conversion("f32_to_f16")
        let inputs: [UInt32] = try Reference.array(c.input)
        let halves: [UInt16] = try Reference.array(c.output)
        let widen: [UInt32] = try Reference.array(Reference.manifest().conversion("f16_to_f32").output)
        // A strided subset keeps the debug-build loop short; the kernels above cover every input.
        let picks = Array(stride(from: 0, to: inputs.count, by: 7))
        let got = picks.map { FloatConversion.roundTripFloat16(Float(bitPattern: inputs[$0])).bitPattern }
        let want = picks.map { widen[Int(halves[$0])] }
        expectSameBits(got, want, input: { "0x" + String(inputs[picks[$0]], radix: 16) }, "FloatConversion.roundTripFloat16")
    }

    /// Without this the "dispatched" runs above would silently test the portable loop twice.
    @Test func dispatchPicksF16CWhereTheCPUHasIt() throws {
        #if arch(x86_64) && os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        if flags.contains("avx2") && flags.contains("f16c") {
            #expect(FloatConversion.isa == "x86-64 avx2+f16c")
        } else {
            #expect(FloatConversion.isa == "portable")
        }
        #else
        #expect(!FloatConversion.isa.isEmpty)
        #endif
    }
}
