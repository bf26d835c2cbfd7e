import CUDA
import Detection
import DetectionCUDA
import Imaging
import Inference
import Pipeline
import Tensors

/// What NVIDIA GPUs bring to a detection run: GPU lanes, nvJPEG, and the GPU postprocess of host
/// outputs. The set-up (`DetectionSetup`) asks through `DetectionAccelerator` and never sees CUDA.
public struct CUDADetectionAccelerator: DetectionAccelerator {
    public init() {}

    public func decodesOnDevice(_ decoder: HeadDecoder) -> Bool { GPUPostprocessor.supports(decoder) }

    public func jpegDecodingUnavailability() -> String? { JPEGDecoderGPU.unavailability() }

    public func lane(session: any Session, inputName: String, spec: PreprocessSpec, postprocessor: Postprocessor, batchSize: Int,
                     decodeJPEGs: Bool) throws -> any DetectionLane {
        try GPUDetectionLane(session: session, inputName: inputName, spec: spec, postprocessor: postprocessor, batchSize: batchSize, decodeJPEGs: decodeJPEGs)
    }

    public func postprocessing(_ cpu: Postprocessor, device: Int, maxBatch: Int, checked: Bool) throws -> any BatchPostprocessing {
        let gpu = try GPUPostprocessor(cpu, maxBatch: maxBatch, allocator: DeviceAllocator(context: CUDAContext(device: device)))
        return checked ? CheckedPostprocessing(gpu) : gpu
    }

    public func report(of postprocessing: any BatchPostprocessing, batch: Int) -> (lines: [String], agrees: Bool)? {
        let checked = postprocessing as? CheckedPostprocessing
        guard let gpu = (postprocessing as? GPUPostprocessor) ?? checked?.gpu else { return nil }
        let times = gpu.kernelTimes.withLock { $0 }.sorted()
        var line = "detect: GPU postprocess p50 \(NumberText.fixed(Percentiles.value(0.5, ofSorted: times), 3)) ms per batch of up to \(batch) (kernels, CUDA events)"
        let overflow = gpu.overflowingFrames.load(ordering: .relaxed)
        if overflow > 0 { line += "; \(overflow) frame(s) had more than \(GPUPostprocessor.capacity) candidates (the GPU kept \(GPUPostprocessor.capacity))" }
        guard let checked else { return ([line], true) }
        let a = checked.agreement, cpu = checked.cpuMilliseconds.sorted()
        var lines = [line, "detect: GPU vs CPU postprocess: \(a.frames) frames, \(a.boxes) boxes, \(a.mismatchedFrames) frame(s) differ; "
            + "worst IoU \(NumberText.fixed(Double(a.worstIoU), 6)), largest score difference \(NumberText.scientific(Double(a.largestScoreDifference))); "
            + "CPU p50 \(NumberText.fixed(Percentiles.value(0.5, ofSorted: cpu), 3)) ms per batch"]
        if let first = a.firstDifference { lines.append("detect: first difference (GPU, then CPU): \(first)") }
        return (lines, a.mismatchedFrames == 0)
    }
}
