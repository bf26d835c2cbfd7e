import Foundation
import Imaging
import Tensors
import TestSupport
import Testing
@testable import CUDA
@testable import ImagingCUDA

enum GPUAvailability {
    static let present: Bool = (try? CUDA.shared()) != nil
}

/// On a machine with a GPU: the kernel's batch equals the CPU pass byte for byte, for every mode,
/// on real pictures and fresh random ones; the output is poisoned first. Elsewhere: skipped.
@Suite(.enabled(if: GPUAvailability.present, "skipped: no CUDA device")) struct GPUPreprocessTests {
    @Test func gpuEqualsCPUForEveryMode() throws {
        let paths = ["images/skimage/astronaut.png", "images/skimage/rocket.jpg", "images/skimage/camera.png"]
        var images = try paths.map { try ImageDecoder().decode(file: try TestMaterial.path($0)) }
        var generator = SystemRandomNumberGenerator()
        let h = Int.random(in: 1...700, using: &generator), w = Int.random(in: 1...700, using: &generator)
        images.append(try Image(pixels: Tensor(shape: [h, w, 3], elements: (0..<(h * w * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }), order: .bgr))
        for resize in PreprocessSpec.ResizeMode.allCases where resize != .none {
            for interpolation in PreprocessSpec.Interpolation.allCases {
                for dtype in PreprocessSpec.OutputType.allCases {
                    for layout in PreprocessSpec.Layout.allCases {
                        var spec = PreprocessSpec(height: 384, width: 640)
                        spec.resize = resize; spec.interpolation = interpolation; spec.dtype = dtype; spec.layout = layout
                        if dtype != .uint8 { spec.mean = [0.485, 0.456, 0.406]; spec.std = [0.229, 0.224, 0.225] }
                        let gpu = try GPUPreprocessor(spec: spec)
                        try gpu.stage(images, batchSize: images.count + 1)
                        try gpu.stream.fill(gpu.output!, byte: 0xA5)
                        try gpu.launch()
                        let ours = try gpu.download()
                        let cpu = try Preprocessor(spec: spec)
                        var expected = try cpu.makeBatch(size: images.count + 1)
                        try cpu.run(images, into: &expected)
                        #expect(ours.bitwiseEquals(expected), "\(resize) \(interpolation) \(dtype) \(layout)")
                    }
                }
            }
        }
    }
}
