import Foundation
import Testing
import Tensors

/// `Tensor.converted(to:)` and the uint8 kernels against numpy for every source type numpy has a
/// reference for: uint8 with scale and bias, float64, the integers, bool, float16 ⇄ bfloat16.
@Suite struct TensorConversionTests {
    /// numpy computes `(u8.astype(float32) * scale + bias).astype(…)`: two roundings, no fused multiply-add.
    @Test(arguments: KernelPath.allCases)
    func uint8KernelsMatchNumpyScaleAndBias(path: KernelPath) throws {
        let cases = try Reference.manifest().conversions.filter { $0.from == "uint8" && $0.to != "bfloat16" }
        #expect(cases.count == 6)
        for c in cases {
            let kernel: Kernel = c.to == "float16" ? .u8ToF16 : .u8ToF32
            let input = try Reference.data(c.input), expected = try Reference.data(c.output)
            let out = kernel.convert(input, scale: c.scale, bias: c.bias, path: path)
            expectMatchesNumpy(out, expected, elementSize: kernel.destinationSize, input: input, inputSize: 1,
                               "\(c.name) (scale \(c.scale), bias \(c.bias)), \(path)")
        }
    }

    /// Every numpy case `converted(to:)` can express (uint8 only without bias: it takes a scale).
    @Test func convertedMatchesNumpyForEverySourceType() throws {
        var checked = 0
        for c in try Reference.manifest().conversions where c.from != "uint8" || c.bias == 0 {
            let from = try #require(DType(name: c.from), "\(c.from)")
            let to = try #require(DType(name: c.to), "\(c.to)")
            let input = try Reference.data(c.input), expected = try Reference.data(c.output)
            let tensor = try input.withUnsafeBytes { try Tensor(dtype: from, shape: [c.count], bytes: $0) }
            let out = try tensor.converted(to: to, uint8Scale: c.scale)
            #expect(out.dtype == to && out.shape == tensor.shape, "\(c.name)")
            out.withUnsafeBytes { a in
                expected.withUnsafeBytes { e in
                    _ = expectSameBits(a, e, elementSize: to.byteSize!, input: hexElement(input, size: from.byteSize!),
                                       "\(c.name): Tensor(\(from)).converted(to: \(to))")
                }
            }
            checked += 1
        }
        #expect(checked >= 36)
    }

    /// A slice starts inside its storage: the conversion must read from the view's own offset.
    @Test func convertsViewsFromTheirOwnOffset() throws {
        let c = try Reference.manifest().conversion("f16_to_f32")
        let input: [UInt16] = try Reference.array(c.input)
        let expected: [UInt32] = try Reference.array(c.output)
        let rows = try Tensor(shape: [256, 256], elements: input.map { Float16(bitPattern: $0) })
        let middle = try rows.slice(3..<200).reshaped([197 * 256])
        let out = try middle.converted(to: .float32).elements(as: Float.self).map(\.bitPattern)
        expectSameBits(out, Array(expected[(3 * 256)..<(200 * 256)]), "float16 slice → float32")
    }

    @Test func sameTypeConversionSharesTheTensor() throws {
        let t = try Tensor(shape: [3], elements: [1, 2, 3] as [Float])
        #expect(try t.converted(to: .float32).bitwiseEquals(t))
    }

    @Test func unsupportedConversionsThrow() throws {
        let floats = try Tensor(shape: [2], elements: [1, 2] as [Float])
        #expect(throws: TensorError.self) { try floats.converted(to: .int32) }
        #expect(throws: TensorError.self) { try floats.converted(to: .string) }
        let strings = try Tensor(shape: [1], strings: [Array("x".utf8)])
        #expect(throws: TensorError.self) { try strings.converted(to: .float32) }
        let complex = try Tensor(dtype: .complex64, shape: [2])
        #expect(throws: TensorError.self) { try complex.converted(to: .float16) }
    }

    /// `floatValues()` is what statistics read: exact for small integers, numpy's rounding otherwise.
    @Test func floatValuesMatchNumpyFloat32() throws {
        for c in try Reference.manifest().conversions where c.to == "float" && c.from != "uint8" {
            let from = try #require(DType(name: c.from))
            let input = try Reference.data(c.input)
            let tensor = try input.withUnsafeBytes { try Tensor(dtype: from, shape: [c.count], bytes: $0) }
            let got = try tensor.floatValues().map(\.bitPattern)
            let want: [UInt32] = try Reference.array(c.output)
            expectSameBits(got, want, input: hexElement(input, size: from.byteSize!), "\(c.from).floatValues()")
        }
    }
}
