import Foundation
import Imaging
import Tensors
import TestSupport
import Testing
@testable import CUDA

/// The host side of the CUDA layer, on any machine: error mapping, cache keys, launch geometry, the
/// missing-library error. GPU runs skip with "no CUDA device" where there is none.
@Suite struct CUDAHostTests {
    @Test func driverCodesMapToKinds() {
        #expect(CUDAError.driver(100, function: "cuInit", name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected").kind == .noDevice)
        #expect(CUDAError.driver(2, function: "cuMemAlloc", name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory").kind == .outOfMemory)
        let e = CUDAError.driver(700, function: "cuStreamSynchronize", name: "CUDA_ERROR_ILLEGAL_ADDRESS", message: "an illegal memory access was encountered")
        #expect(e.kind == .call)
        #expect(e.description == "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered")
        let compile = CUDAError(.compile, function: "nvrtcCompileProgram", code: 6, codeName: "NVRTC_ERROR_COMPILATION", message: "compiling k for sm_90", log: "k.cu(3): error: identifier \"x\" is undefined")
        #expect(compile.description.contains("compiler log:\nk.cu(3): error"))
    }

    @Test func cacheKeyNamesSourceArchitectureAndCompiler() {
        let a = KernelCompiler.cacheKey(source: PreprocessKernel.source, architecture: "sm_90", nvrtcVersion: (13, 0))
        #expect(a == KernelCompiler.cacheKey(source: PreprocessKernel.source, architecture: "sm_90", nvrtcVersion: (13, 0)))
        #expect(a.hasSuffix("-sm_90-nvrtc13.0.cubin") && a.count == 16 + "-sm_90-nvrtc13.0.cubin".count)
        #expect(a != KernelCompiler.cacheKey(source: PreprocessKernel.source + " ", architecture: "sm_90", nvrtcVersion: (13, 0)))
        #expect(a != KernelCompiler.cacheKey(source: PreprocessKernel.source, architecture: "sm_80", nvrtcVersion: (13, 0)))
        #expect(a != KernelCompiler.cacheKey(source: PreprocessKernel.source, architecture: "sm_90", nvrtcVersion: (12, 8)))
        // FNV-1a of the empty string is its offset basis: the hash is the documented one, stable across runs.
        #expect(KernelCompiler.cacheKey(source: "", architecture: "a", nvrtcVersion: (1, 2)) == "cbf29ce484222325-a-nvrtc1.2.cubin")
    }

    @Test(arguments: [(1, 1, 1), (3, 640, 640), (64, 640, 640), (2, 48, 192), (1, 7, 33)])
    func launchGeometryCoversEveryPixelOnce(slots: Int, height: Int, width: Int) {
        let (grid, block) = PreprocessKernel.geometry(slots: slots, height: height, width: width)
        #expect(grid.0 * block.0 >= width && (grid.0 - 1) * block.0 < width)
        #expect(grid.1 * block.1 >= height && (grid.1 - 1) * block.1 < height)
        #expect(grid.2 == slots && block.2 == 1 && block.0 * block.1 <= 1024)
    }

    @Test func kernelRecordMatchesTheSource() {
        #expect(PreprocessKernel.source.contains("n * \(PreprocessKernel.recordFields)"))
        #expect(PreprocessKernel.source.contains("extern \"C\" __global__ void \(PreprocessKernel.name)("))
    }

    @Test func missingLibrariesGiveOneClearError() {
        #expect(throws: CUDAError.self) { try LoadedLibrary.open(["/nonexistent/libcuda.so.1"], what: "the CUDA driver") }
        do { _ = try LoadedLibrary.open(["/nonexistent/libcuda.so.1"], what: "the CUDA driver") } catch {
            #expect(error.kind == .libraryUnavailable && error.message.contains(CUDALibraries.pathVariable))
        }
    }

    @Test func withoutAGPUTheErrorSaysSo() throws {
        guard !GPUAvailability.present else { return }
        #expect { try CUDAContext(device: 0) } throws: { ($0 as? CUDAError).map { $0.kind == .noDevice || $0.kind == .libraryUnavailable } ?? false }
    }
}

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
