import CKernels
import Foundation
import Imaging
import Tensors
import Testing

/// The fused pass on its own terms: every ISA path identical, float16 equal to our float32 output
/// rounded to nearest even, layouts consistent, partial batches padded, bad input refused untouched.
@Suite struct PreprocessorTests {
    static func run(_ spec: PreprocessSpec, _ images: [Image], batch size: Int, kernels: Preprocessor.KernelLevel = .best) throws -> (Tensor, [ImagePlacement]) {
        let pre = try Preprocessor(spec: spec, kernels: kernels)
        var batch = try pre.makeBatch(size: size)
        let placements = try pre.run(images, into: &batch)
        return (batch, placements)
    }

    static func spec(_ h: Int, _ w: Int, _ resize: PreprocessSpec.ResizeMode, _ interpolation: PreprocessSpec.Interpolation,
                     _ dtype: PreprocessSpec.OutputType, _ layout: PreprocessSpec.Layout, _ order: ChannelOrder) -> PreprocessSpec {
        var s = PreprocessSpec(height: h, width: w)
        s.resize = resize; s.interpolation = interpolation; s.dtype = dtype; s.layout = layout; s.order = order
        if dtype != .uint8 { s.mean = [0.485, 0.456, 0.406]; s.std = [0.229, 0.224, 0.225] }
        return s
    }

    /// Widths and heights 1...33 (every SIMD tail, every 4-pixel group remainder) through every mode,
    /// type, layout and order: AVX-512, AVX2 and portable loops give the same bytes.
    @Test(arguments: PreprocessSpec.OutputType.allCases)
    func simdAndPortablePathsAreIdentical(dtype: PreprocessSpec.OutputType) throws {
        var seed: UInt64 = 1
        for layout in PreprocessSpec.Layout.allCases {
            for order in ChannelOrder.allCases {
                for (resize, interpolation) in [(PreprocessSpec.ResizeMode.none, PreprocessSpec.Interpolation.bilinear),
                                                (.letterbox, .bilinear), (.stretch, .nearest), (.stretch, .area), (.crop, .bilinear)] {
                    for size in 1...33 {
                        seed += 1
                        let image = try randomImage(height: size + Int(seed % 5), width: size, seed: seed, order: .rgb)
                        let target = resize == .none ? (size + 7, size + 40) : (17 + size % 3, 35 + size)
                        let spec = Self.spec(target.0, target.1, resize, interpolation, dtype, layout, order)
                        let (fast, placementsFast) = try Self.run(spec, [image], batch: 2)
                        for level in [Preprocessor.KernelLevel.avx2, .portable] {
                            let (slow, placementsSlow) = try Self.run(spec, [image], batch: 2, kernels: level)
                            #expect(placementsFast == placementsSlow)
                            #expect(fast.bitwiseEquals(slow), "\(level): \(dtype) \(layout) \(order) \(resize) \(interpolation) size \(size)")
                        }
                    }
                }
            }
        }
    }

    @Test func float16IsOurFloat32RoundedToNearestEven() throws {
        let images = try (0..<3).map { try randomImage(height: 90 + $0, width: 120 - $0, seed: UInt64(10 + $0)) }
        for preset in ["yolo640", "imagenet224", "paddleocr-cls"] {
            var spec = PreprocessSpec.preset(named: preset)!
            spec.dtype = .float32
            let (f32, _) = try Self.run(spec, images, batch: 4)
            for (dtype, convert) in [(PreprocessSpec.OutputType.float16, hp_f32_to_f16_scalar), (.bfloat16, hp_f32_to_bf16_scalar)] {
                spec.dtype = dtype
                let (reduced, _) = try Self.run(spec, images, batch: 4)
                let expected = try f32.elements(as: Float.self).map(convert)
                let ours = reduced.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
                #expect(ours == expected, "\(preset) \(dtype)")
            }
        }
    }

    @Test func float32EqualsNumpysScaleOfTheLevels() throws {
        // No resize, default normalization: exactly numpy's img.astype(float32) * (1 / 255), in CHW.
        let image = try randomImage(height: 37, width: 53, seed: 7)
        var spec = PreprocessSpec(height: 37, width: 53)
        spec.resize = .none
        let (batch, _) = try Self.run(spec, [image], batch: 1)
        let levels = ImagingReference.bytes(image.pixels)
        let ours = try batch.elements(as: Float.self)
        for c in 0..<3 {
            for i in 0..<(37 * 53) {
                #expect(ours[c * 37 * 53 + i].bitPattern == (Float(levels[i * 3 + c]) * Float(1.0 / 255.0)).bitPattern)
            }
        }
    }

    @Test func nhwcIsNchwTransposed() throws {
        let images = try [randomImage(height: 50, width: 31, seed: 3), randomImage(height: 20, width: 77, seed: 4)]
        var spec = PreprocessSpec.preset(named: "yolo416")!
        spec.dtype = .float16
        let (nchw, _) = try Self.run(spec, images, batch: 3)
        spec.layout = .nhwc
        let (nhwc, _) = try Self.run(spec, images, batch: 3)
        let a = nchw.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let b = nhwc.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let hw = 416 * 416
        for n in 0..<3 { for c in 0..<3 { for i in stride(from: 0, to: hw, by: 7) {
            #expect(a[n * 3 * hw + c * hw + i] == b[n * 3 * hw + i * 3 + c])
        } } }
    }

    @Test func partialBatchesLeaveUnusedSlotsPadded() throws {
        var spec = PreprocessSpec.preset(named: "yolo640")!
        spec.dtype = .float16
        let pre = try Preprocessor(spec: spec)
        var batch = try pre.makeBatch(size: 4)
        // Dirty the batch first, so padding must really be written.
        _ = batch.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xAB) }
        let images = try [randomImage(height: 900, width: 1200, seed: 1), randomImage(height: 300, width: 200, seed: 2)]
        let placements = try pre.run(images, into: &batch)
        let pad = hp_f32_to_f16_scalar(Float(114) * Float(1.0 / 255.0))
        let values = batch.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let slot = 3 * 640 * 640
        #expect(values[(2 * slot)...].allSatisfy { $0 == pad }, "slots 2 and 3 are padding")
        #expect(!values.contains(0xABAB))
        // Slot 0: 900x1200 -> 480x640, 80 rows of padding above and below.
        #expect(placements[0].resizedHeight == 480 && placements[0].padTop == 80 && placements[0].padBottom == 80)
        #expect(values[0..<(80 * 640)].allSatisfy { $0 == pad })
        #expect(values[(560 * 640)..<(640 * 640)].allSatisfy { $0 == pad })
        // Slot 1: 300x200 -> 640x427 (round(200 * 640/300) = 427): 106 columns left, 107 right.
        #expect(placements[1].resizedWidth == 427 && placements[1].padLeft == 106 && placements[1].padRight == 107)
        let (ox, oy) = placements[1].originalPoint(x: 106 + 427, y: 640)
        #expect(abs(ox - 200) < 1e-9 && abs(oy - 300) < 1e-9)
    }

    @Test func badInputLeavesTheBatchUntouched() throws {
        var spec = PreprocessSpec(height: 64, width: 64)
        spec.resize = .none
        let pre = try Preprocessor(spec: spec)
        var batch = try pre.makeBatch(size: 2)
        _ = batch.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
        let before = batch
        let good = try randomImage(height: 64, width: 64, seed: 1), tooBig = try randomImage(height: 65, width: 10, seed: 2)
        #expect(throws: ImagingError.self) { try pre.run([good, tooBig], into: &batch) }
        #expect(batch.bitwiseEquals(before), "a refused image must not leave a half-written batch")
        #expect(throws: ImagingError.self) { try pre.run([good, good, good], into: &batch) }
        var wrongType = try Tensor(dtype: .float16, shape: [2, 3, 64, 64])
        #expect(throws: ImagingError.self) { try pre.run([good], into: &wrongType) }
        var wrongShape = try Tensor(dtype: .float32, shape: [2, 64, 64, 3])
        #expect(throws: ImagingError.self) { try pre.run([good], into: &wrongShape) }
        #expect(batch.bitwiseEquals(before))
    }

    @Test func invalidSpecsAreRefusedWithTheFieldNamed() throws {
        var bad = PreprocessSpec(height: 0, width: 640)
        #expect(throws: ImagingError.self) { try Preprocessor(spec: bad) }
        bad = PreprocessSpec(height: 640, width: 640); bad.std = [1, 0, 1]
        #expect(throws: ImagingError.self) { try Preprocessor(spec: bad) }
        bad = PreprocessSpec(height: 640, width: 640); bad.mean = [0.5]
        #expect(throws: ImagingError.self) { try Preprocessor(spec: bad) }
        bad = PreprocessSpec(height: 640, width: 640); bad.dtype = .uint8; bad.mean = [0.5, 0.5, 0.5]
        #expect(throws: ImagingError.self) { try Preprocessor(spec: bad) }
        bad = PreprocessSpec(height: 640, width: 640); bad.padValue = 300
        #expect(throws: ImagingError.self) { try Preprocessor(spec: bad) }
    }

    @Test func int8QuantizesTheNormalizedValue() throws {
        var spec = PreprocessSpec(height: 1, width: 256)
        spec.resize = .none; spec.dtype = .int8; spec.int8Scale = 1.0 / 127; spec.int8ZeroPoint = -3
        let row = try Tensor(shape: [1, 256, 3], elements: (0..<256).flatMap { [UInt8($0), UInt8($0), UInt8($0)] })
        let (batch, _) = try Self.run(spec, [try Image(pixels: row, order: .rgb)], batch: 1)
        let ours = batch.withUnsafeBytes { Array($0.bindMemory(to: Int8.self)) }
        for level in 0..<256 {
            let x = Double(Float(level) * Float(1.0 / 255.0))
            let q = max(-128, min(127, (x * 127).rounded(.toNearestOrEven) - 3))
            #expect(Int(ours[level]) == Int(q))
        }
    }
}
