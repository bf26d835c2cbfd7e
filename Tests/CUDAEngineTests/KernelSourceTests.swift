import Testing
@testable import CUDAEngine

/// Which generated kernels move eight FP16 elements per thread, and the index arithmetic they use.
/// The kernels themselves run on the GPU machine (bench/gpu_engine.sh checks every real model
/// against ONNX Runtime with them).
@Suite struct KernelSourceTests {
    /// NHWC strides of a logical [N, C, H, W] tensor storing `stored` channels.
    static func nhwc(_ shape: [Int], stored: Int? = nil) -> [Int] {
        let c = stored ?? shape[1]
        return [shape[2] * shape[3] * c, 1, shape[3] * c, c]
    }

    @Test func densityIgnoresAxisOrderButSeesPaddingAndBroadcast() {
        #expect(KernelSource.isDense([2, 3, 4], [12, 4, 1]))
        #expect(KernelSource.isDense([2, 16, 5, 7], Self.nhwc([2, 16, 5, 7])))
        #expect(!KernelSource.isDense([2, 12, 5, 7], Self.nhwc([2, 12, 5, 7], stored: 16)))
        #expect(!KernelSource.isDense([2, 16, 5, 7], [0, 1, 0, 0]))
        #expect(KernelSource.isDense([1, 8, 1, 1], [8, 1, 8, 8]))
    }

    @Test func siluOverAnActivationIsVectorized() {
        let shape = [64, 24, 208, 208], strides = Self.nhwc(shape)
        let k = KernelSource.elementwiseKernel(function: "f", shape: shape, outStrides: strides, operands: [.tensor(strides: strides, half: true)],
                                               body: ["const float t0 = v0 / (1.0f + __expf(-v0));"], result: "t0", vectorizable: true)
        #expect(k.threads == shape.reduce(1, *) / 8)
        #expect(k.source.firstRange(of: "const uint4 a0 = p0[idx]") != nil && k.source.firstRange(of: "out[idx] = o;") != nil)
        #expect(k.source.firstRange(of: "%") == nil, "no per-element index arithmetic")
    }

    @Test func elementwiseStaysScalarWhereOneIndexCannotServeAll() {
        let shape = [2, 16, 4, 4], strides = Self.nhwc(shape)
        let body = ["const float t0 = v0 + v1;"]
        // A per-channel operand (broadcast), a padded output, a float32 operand, weights, a tail.
        let cases: [(shape: [Int], out: [Int], operands: [KernelSource.Operand], vectorizable: Bool)] = [
            (shape, strides, [.tensor(strides: strides, half: true), .tensor(strides: [0, 1, 0, 0], half: true)], true),
            ([2, 12, 4, 4], Self.nhwc([2, 12, 4, 4], stored: 16), [.tensor(strides: Self.nhwc([2, 12, 4, 4], stored: 16), half: true), .literal(1)], true),
            (shape, strides, [.tensor(strides: strides, half: false), .literal(1)], true),
            (shape, strides, [.tensor(strides: strides, half: true), .tensor(strides: strides, half: true)], false),
            ([1, 3, 1, 1], [3, 1, 3, 3], [.tensor(strides: [3, 1, 3, 3], half: true), .literal(2)], true),
        ]
        for c in cases {
            let k = KernelSource.elementwiseKernel(function: "f", shape: c.shape, outStrides: c.out, operands: c.operands, body: body, result: "t0",
                                                   vectorizable: c.vectorizable)
            #expect(k.threads == c.shape.reduce(1, *) && k.source.firstRange(of: "uint4") == nil, "\(c.shape) \(c.out)")
        }
        // Two same-layout FP16 operands and a literal do vectorize.
        let k = KernelSource.elementwiseKernel(function: "f", shape: shape, outStrides: strides,
                                               operands: [.tensor(strides: strides, half: true), .literal(3), .tensor(strides: strides, half: true)],
                                               body: ["const float t0 = v0 + v1 * v2;"], result: "t0", vectorizable: true)
        #expect(k.threads == 64 && k.source.firstRange(of: "const float v2 = hp_h2f(h1[j]);") != nil)
    }

    /// A Concat part along the channels of NHWC tensors: 48 of 96 channels at channel 48.
    @Test func concatPartsOfEightChannelMultiplesAreVectorized() {
        let part = [64, 48, 26, 26], out = Self.nhwc([64, 96, 26, 26])
        let k = KernelSource.copyKernel(function: "c", shape: part, outStrides: out, outBase: 48, outHalf: true, sourceStrides: Self.nhwc(part), sourceHalf: true)
        #expect(k.threads == part.reduce(1, *) / 8)
        // Offsets in 16-byte units: the base 48 halves is 6 vectors, the output row 96 halves is 12.
        #expect(k.source.firstRange(of: "out[6LL + i0 * 8112LL + i1 + i2 * 312LL + i3 * 12LL] = src[i0 * 4056LL + i1 + i2 * 156LL + i3 * 6LL]") != nil, "\(k.source)")
    }

    @Test func copiesStayScalarWithoutAlignedContiguousRuns() {
        let part = [64, 12, 8, 8]
        let cases: [KernelSource.Generated] = [
            // 12 channels: no run of 8 fits the rows.
            KernelSource.copyKernel(function: "c", shape: part, outStrides: Self.nhwc(part), outHalf: true, sourceStrides: Self.nhwc(part), sourceHalf: true),
            // A base that is not a multiple of 8.
            KernelSource.copyKernel(function: "c", shape: [1, 8, 2, 2], outStrides: Self.nhwc([1, 16, 2, 2]), outBase: 4, outHalf: true,
                                    sourceStrides: Self.nhwc([1, 8, 2, 2]), sourceHalf: true),
            // The FP32 edge, and padded channels that must be written as zeros.
            KernelSource.copyKernel(function: "c", shape: [1, 8, 2, 2], outStrides: Self.nhwc([1, 8, 2, 2]), outHalf: true,
                                    sourceStrides: [32, 4, 2, 1], sourceHalf: false),
            KernelSource.copyKernel(function: "c", shape: [1, 8, 2, 2], outStrides: Self.nhwc([1, 8, 2, 2]), outHalf: true,
                                    sourceStrides: Self.nhwc([1, 8, 2, 2]), sourceHalf: true, zeroAxis: 1, zeroFrom: 3),
            // A strided Slice along the channels (step 2).
            KernelSource.copyKernel(function: "c", shape: [1, 8, 2, 2], outStrides: Self.nhwc([1, 8, 2, 2]), outHalf: true,
                                    sourceStrides: [64, 2, 32, 16], sourceHalf: true),
            // Nothing to copy.
            KernelSource.copyKernel(function: "c", shape: [1, 0, 2, 2], outStrides: [0, 1, 0, 0], outHalf: true, sourceStrides: [0, 1, 0, 0], sourceHalf: true),
        ]
        for k in cases { #expect(k.source.firstRange(of: "uint4") == nil, "\(k.source)") }
    }
}
