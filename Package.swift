// swift-tools-version: 6.1
// HalfPipe: reduced-precision vision inference in Swift. See shared/design.md for the architecture.
import PackageDescription

let package = Package(
    name: "HalfPipe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "halfpipe", targets: ["halfpipe"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "ONNX", targets: ["ONNX"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "ONNXRuntime", targets: ["ONNXRuntime"]),
        .library(name: "Precision", targets: ["Precision"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "CUDA", targets: ["CUDA"]),
        .library(name: "ImagingCUDA", targets: ["ImagingCUDA"]),
        .library(name: "Detection", targets: ["Detection"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        .library(name: "PipelineCUDA", targets: ["PipelineCUDA"]),
        .library(name: "DetectionCUDA", targets: ["DetectionCUDA"]),
        .library(name: "CUDAEngine", targets: ["CUDAEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // ISA-specific inner loops (F16C/AVX2, NEON) with run-time dispatch and portable fallbacks.
        .target(name: "CKernels", exclude: ["resample_body.inc"]),
        // libjpeg-turbo's TurboJPEG API and libpng from the system (Debian: libturbojpeg0-dev, libpng-dev);
        // Linked by the module map's `link` lines; `make static` swaps in their static archives.
        .target(name: "CImageCodecs"),
        // zlib from the system (Debian: zlib1g-dev), for deflated .npz members.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Tensors", dependencies: ["CKernels", "CZlib"]),
        .target(
            name: "ONNX",
            dependencies: ["Tensors", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Generated/README.md"]
        ),
        // The seam every backend plugs into: Session, Backend (supports, makeSession), Device, the
        // comparison verdicts. Commands, range analysis and calibration see only this.
        .target(name: "Inference", dependencies: ["Tensors", "ONNX"]),
        // ONNX Runtime's C API, loaded with dlopen at run time (from the onnxruntime wheel): the first backend.
        .target(name: "ONNXRuntime", dependencies: ["Inference", "ONNX", "Tensors"]),
        // Image decoding and the fused CPU preprocessing into batches.
        .target(name: "Imaging", dependencies: ["Tensors", "CKernels", "CImageCodecs"]),
        // Graph passes for reduced precision: folding, FP16/BF16 conversion, activation statistics,
        // quantization, and the jobs with their data (calibration files, image feeds). Kernels come through Tensors.
        .target(name: "Precision", dependencies: ["ONNX", "Inference", "Tensors", "Imaging", "Detection"]),
        // The CUDA driver layer: libcuda and NVRTC loaded with dlopen; devices, streams, scoped device
        // memory with a caching allocator, run-time kernels. No domain code (that sits beside it).
        .target(name: "CUDA", dependencies: ["Tensors"]),
        // The fused preprocessing of Imaging as one CUDA kernel, byte-identical to the CPU pass.
        .target(name: "ImagingCUDA", dependencies: ["Imaging", "CUDA", "Tensors"]),
        // The FP16 engine: ONNX lowered to cuDNN convolutions and generated kernels, NHWC inside, one
        // memory plan, replayed as a CUDA graph. A Backend; planning is host code, tested without a GPU.
        .target(name: "CUDAEngine", dependencies: ["CUDA", "Inference", "ONNX", "Precision", "Tensors"]),
        // Box decoders for the common detection heads, NMS, mapping back to the frame, drawing.
        .target(name: "Detection", dependencies: ["Tensors", "Imaging"]),
        // Decode + NMS for a whole batch on the GPU, equal to Detection's CPU path.
        .target(name: "DetectionCUDA", dependencies: ["Detection", "CUDA", "Imaging", "Tensors"]),
        // Streaming detection: sources, batching, lanes on threads over bounded queues (host lanes:
        // sessions on the CPU), reorder, sinks, profiler, traces; the set-up from a plain request.
        .target(name: "Pipeline", dependencies: ["Tensors", "ONNX", "Inference", "Imaging", "Detection", "Precision"]),
        // The GPU lane: pixels up once, fused preprocessing into the engine's input, the engine's
        // graph, decode + NMS in place. Reaches the engine only through Inference's device binding.
        .target(name: "PipelineCUDA", dependencies: ["Pipeline", "ImagingCUDA", "DetectionCUDA", "Inference", "CUDA", "Imaging", "Detection", "Tensors"]),
        .executableTarget(
            name: "halfpipe",
            dependencies: ["Tensors", "ONNX", "Inference", "ONNXRuntime", "Imaging", "CUDA", "ImagingCUDA", "Precision", "Detection", "DetectionCUDA", "Pipeline", "PipelineCUDA", "CUDAEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "halfpipe-bench", dependencies: ["Tensors", "ONNX", "Imaging"], path: "bench/Sources/halfpipe-bench"),
        .executableTarget(name: "halfpipe-fuzz-loader", dependencies: ["ONNX"], path: "Tests/Fuzz/LoaderFuzzer"),
        .executableTarget(name: "halfpipe-fuzz-frames", dependencies: ["Imaging", "Detection", "Tensors"], path: "Tests/Fuzz/FrameFuzzer"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "CKernels", "TestSupport"]),
        // Locating the real test material and running the Python reference scripts, for the test targets.
        .target(name: "TestSupport", dependencies: ["ONNX", "Tensors"], path: "Tests/TestSupport"),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Tensors", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Tensors", "ONNX"]),
        .testTarget(name: "ONNXRuntimeTests", dependencies: ["ONNXRuntime", "Inference", "Tensors", "ONNX", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Tensors", "TestSupport"]),
        .testTarget(name: "PrecisionTests", dependencies: ["Precision", "ONNX", "Inference", "ONNXRuntime", "Imaging", "Tensors", "CKernels", "TestSupport"]),
        .testTarget(name: "CUDATests", dependencies: ["CUDA", "Tensors"]),
        .testTarget(name: "ImagingCUDATests", dependencies: ["ImagingCUDA", "CUDA", "Imaging", "Tensors", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Imaging", "Tensors", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Detection", "Imaging", "Inference", "ONNXRuntime", "ONNX", "Tensors", "TestSupport"]),
        .testTarget(name: "DetectionCUDATests", dependencies: ["DetectionCUDA", "Detection", "Imaging"]),
        .testTarget(name: "CUDAEngineTests", dependencies: ["CUDAEngine", "CUDA", "ONNX", "Inference", "ONNXRuntime", "Tensors", "TestSupport"]),
        .testTarget(name: "HalfPipeCLITests", dependencies: ["halfpipe"], exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
