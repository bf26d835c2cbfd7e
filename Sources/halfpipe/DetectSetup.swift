import Inference
import ONNXRuntime
import Pipeline
import PipelineCUDA

extension Detect {
    /// The command's options as the pipeline's request; the set-up itself is `DetectionSetup`'s.
    func setup() throws -> DetectionSetup {
        let devices = try runtime.device.resolve()
        var request = DetectionRequest(model: model, devices: devices)
        (request.batch, request.workers, request.threads) = (batch, workers, runtime.threads)
        request.decoder = decoder.layout
        (request.score, request.iou, request.maxDetections, request.classAgnostic, request.multiLabel) = (score, iou, maxDetections, classAgnostic, multiLabel)
        (request.postprocess, request.checkPostprocess, request.jpegDecoding) = (postprocess, checkPostprocess, decode)
        request.annotates = annotate != nil
        request.images = try imageFeed.request
        let target = ExecutionTarget(backend: try Backends.backend(for: devices[0], runtime: runtime), device: devices[0], options: try runtime.sessionOptions())
        // A batch rewrite is checked on ONNX Runtime on the CPU with its defaults where it loads
        // (exact to 1e-4 there), whatever providers the run itself was given.
        let ort = ORTBackend(libraryPath: runtime.ortLibrary)
        let checker = devices[0].isGPU && ort.unavailability(on: .cpu) == nil ? ExecutionTarget(backend: ort, device: .cpu) : nil
        return try DetectionSetup.make(request, target: target, checker: checker, accelerator: CUDADetectionAccelerator(), warn: printStandardError)
    }
}
