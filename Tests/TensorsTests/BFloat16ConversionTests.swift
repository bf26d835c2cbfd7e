import Foundation
import Testing
import Tensors

/// bfloat16 ⇄ float32 against ml_dtypes' `astype`, bit for bit. ml_dtypes rounds to nearest even
/// and turns every NaN into the quiet NaN 0x7FC0 with the sign kept (its payload is dropped).
@Suite struct BFloat16ConversionTests {
    @Test(arguments: KernelPath.allCases)
    func bfloat16ToFloat32MatchesMLDtypesForAllPatterns(path: KernelPath) throws {
        let (input, expected, _, _) = try Kernel.bf16ToF32.referenceCase()
        let out = Kernel.bf16ToF32.convert(input, path: path)
        expectMatchesNumpy(out, expected, elementSize: 4, input: input, inputSize: 2, "bfloat16→float32, \(path)")
    }

    @Test(arguments: KernelPath.allCases)
    func float32ToBFloat16MatchesMLDtypesOnBoundariesAndRandomBits(path: KernelPath) throws {
        let (input, expected, _, _) = try Kernel.f32ToBF16.referenceCase()
        let out = Kernel.f32ToBF16.convert(input, path: path)
        expectMatchesNumpy(out, expected, elementSize: 2, input: input, inputSize: 4, "float32→bfloat16, \(path)")
    }

    @Test func tensorConversionMatchesMLDtypes() throws {
        let m = try Reference.manifest()
        for (name, from, to) in [("bf16_to_f32", DType.bfloat16, DType.float32), ("f32_to_bf16", .float32, .bfloat16)] {
            let c = try m.conversion(name)
            let input = try Reference.data(c.input), expected = try Reference.data(c.output)
            let tensor = try input.withUnsafeBytes { try Tensor(dtype: from, shape: [c.count], bytes: $0) }
            let out = try tensor.converted(to: to)
            out.withUnsafeBytes { a in
                expected.withUnsafeBytes { e in
                    _ = expectSameBits(a, e, elementSize: to.byteSize!, input: hexElement(input, size: from.byteSize!),
                                       "Tensor.converted \(from)→\(to)")
                }
            }
        }
    }

    /// `BFloat16(Float)` and `.floatValue` follow the same rule as the buffer kernels.
    @Test func scalarTypeMatchesMLDtypes() throws {
        let c = try Reference.manifest().conversion("f32_to_bf16")
        let inputs: [UInt32] = try Reference.array(c.input)
        let expected: [UInt16] = try Reference.array(c.output)
        let picks = Array(stride(from: 0, to: inputs.count, by: 7))
        let got = picks.map { BFloat16(Float(bitPattern: inputs[$0])).bitPattern }
        expectSameBits(got, picks.map { expected[$0] }, input: { "0x" + String(inputs[picks[$0]], radix: 16) }, "BFloat16(Float)")
        let widened = try Reference.array(Reference.manifest().conversion("bf16_to_f32").output, as: UInt32.self)
        let all = (0...UInt16.max).map { BFloat16(bitPattern: $0).floatValue.bitPattern }
        expectSameBits(all, widened, "BFloat16.floatValue")
    }

    /// bfloat16 → float32 → bfloat16 is the identity except for NaNs, which become ±0x7FC0.
    @Test(arguments: KernelPath.allCases)
    func roundTripThroughFloat32KeepsEveryNumber(path: KernelPath) {
        let all = (0...UInt16.max).map { $0 }
        let wide = Kernel.bf16ToF32.convert(all.withUnsafeBytes { Data($0) }, path: path)
        let back = Kernel.f32ToBF16.convert(Data(wide), path: path).withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let expected = all.map { b in (b & 0x7FFF) > 0x7F80 ? (b & 0x8000) | 0x7FC0 : b }
        expectSameBits(back, expected, input: hexInput(all), "bfloat16→float32→bfloat16, \(path)")
        #expect(FloatConversion.roundTripBFloat16(-0.0).sign == .minus)
        #expect(FloatConversion.roundTripBFloat16(1 + 0x1p-8) == 1)  // a tie rounds to the even neighbour
        #expect(FloatConversion.roundTripBFloat16(.greatestFiniteMagnitude) == .infinity)
    }
}
