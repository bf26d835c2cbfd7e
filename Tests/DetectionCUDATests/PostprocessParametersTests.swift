import Detection
@testable import DetectionCUDA
import Imaging
import Testing

/// The by-value structures must match the kernel source's C declarations byte for byte; these run
/// without a GPU (the GPU results themselves are checked against the CPU path by bench/gpu.sh).
@Suite struct PostprocessParametersTests {
    private func ints(_ bytes: [UInt8], _ count: Int) -> [Int32] {
        (0..<count).map { i in bytes[i * 4..<i * 4 + 4].enumerated().reduce(Int32(0)) { $0 | Int32($1.element) << (8 * $1.offset) } }
    }

    @Test func headParametersOfTheRealDetectorLayOutTheGrid() throws {
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        let p = try PostprocessParameters(decoder: decoder, shapes: [[64, 3549, 6]], threshold: 0.25)
        #expect(p.bytes.count == PostprocessParameters.headBytes && p.cells == 3549)
        // layout, cells, width, classes, levels; strides; grid widths; cells per level; threshold.
        #expect(ints(p.bytes, 17) == [0, 3549, 6, 1, 3, 8, 16, 32, 0, 52, 26, 13, 0, 2704, 676, 169, 0])
        #expect(Array(p.bytes[68..<72]) == withUnsafeBytes(of: Float(0.25).bitPattern.littleEndian) { Array($0) })
    }

    @Test func channelsFirstAndBoxesWithScores() throws {
        let v8 = try HeadDecoder.recognise([HeadOutput(name: "o", shape: [1, 84, 8400])], inputWidth: 640, inputHeight: 640)
        #expect(ints(try PostprocessParameters(decoder: v8, shapes: [[2, 84, 8400]], threshold: 0.5).bytes, 5) == [2, 8400, 84, 80, 0])
        let boxes = try HeadDecoder.recognise([HeadOutput(name: "b", shape: [1, 100, 4]), HeadOutput(name: "s", shape: [1, 100, 21])], inputWidth: 300, inputHeight: 300)
        #expect(ints(try PostprocessParameters(decoder: boxes, shapes: [[1, 100, 4], [1, 100, 21]], threshold: 0.5).bytes, 5) == [3, 100, 4, 21, 0])
    }

    @Test func gflAndFinishedBoxesStayOnTheCPU() throws {
        let finished = try HeadDecoder.recognise([HeadOutput(name: "dets", shape: [1, 100, 6])], inputWidth: 640, inputHeight: 640)
        #expect(!GPUPostprocessor.supports(finished))
        let pico = [400, 100].flatMap { [HeadOutput(name: "s\($0)", shape: [1, $0, 3]), HeadOutput(name: "d\($0)", shape: [1, $0, 32])] }
        #expect(!GPUPostprocessor.supports(try HeadDecoder.recognise(pico, inputWidth: 160, inputHeight: 160)))
    }

    @Test func placementsCarryWhatTheCPUMappingDividesBy() throws {
        let spec = PreprocessSpec.preset(named: "yolox416")!
        let placement = try ImagePlacement.make(width: 768, height: 576, spec: spec)
        func doubles(_ bytes: [UInt8]) -> [Double] {
            (0..<4).map { i in Double(bitPattern: bytes[i * 8..<i * 8 + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }) }
        }
        let gain = PostprocessParameters.placements([placement], mapping: .letterboxGain)
        #expect(gain.count == PostprocessParameters.placementBytes)
        #expect(doubles(gain) == [0, 0, placement.ratio, placement.ratio])
        let exact = doubles(PostprocessParameters.placements([placement], mapping: .resampledScale))
        #expect(exact[2] == Double(placement.resizedWidth) / 768 && exact[3] == Double(placement.resizedHeight) / 576)
    }

    @Test func kernelSourceHoldsTheSameCapacityAndEveryEntryPoint() {
        let source = PostprocessKernels.source
        #expect(source.firstRange(of: "#define CAPACITY \(PostprocessKernels.capacity)") != nil)
        for name in ["hp_det_widen", "hp_det_decode", "hp_det_sort", "hp_det_iou_mask", "hp_det_select"] {
            #expect(source.firstRange(of: "extern \"C\" __global__ void \(name)(") != nil)
        }
        // The sort's shared arrays fit the 48 KB a block gets without opting in.
        #expect(PostprocessKernels.capacity * (8 + 2) <= 48 * 1024)
    }
}
