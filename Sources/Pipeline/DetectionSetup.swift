import Detection
import FoundationEssentials
import Imaging
import Inference
import ONNX
import Precision
import Tensors

/// Everything a detection run builds before frames flow: the lanes (sessions of the
/// batch-rewritten model where needed), the preprocessing fitted to the input, the head decoder
/// and the class names. GPU lanes where the device, the backend and the head allow them, host
/// lanes otherwise: the pipeline is the same either way.
public struct DetectionSetup {
    public let lanes: [any DetectionLane]
    public let preprocessor: Preprocessor
    public let names: ClassNames
    public let batch: Int
    /// One line: the model, its head, the input, and where each stage runs.
    public let summary: String
    /// The lanes decode JPEG files (the sources leave them compressed).
    public let decodesJPEGs: Bool
    /// The postprocessing the host lanes share (a GPU lane does its own).
    let postprocessing: any BatchPostprocessing
    let accelerator: (any DetectionAccelerator)?

    /// - Parameters:
    ///   - target: the backend and options sessions are made with, on `request.devices[0]`.
    ///   - checker: where a batch rewrite is checked against batch 1 (ONNX Runtime on the CPU,
    ///     where the rewrite is exact to 1e-4); nil checks on `target`.
    ///   - accelerator: what the GPU offers (nil: host lanes only).
    ///   - warn: hears the set-up's warnings, one line each.
    public static func make(_ request: DetectionRequest, target: ExecutionTarget, checker: ExecutionTarget?, accelerator: (any DetectionAccelerator)?,
                            warn: (String) -> Void) throws -> DetectionSetup {
        let devices = request.devices
        var target = target
        // Measured on the 2-core dev machine (vtest.avi, the YOLOX detector): two 1-thread sessions
        // 43 fps, one 2-thread session 36-40 fps: ORT's pool synchronises every op of a small model.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = request.workers > 0 ? request.workers : (target.device == .cpu && cores >= 2 ? 2 : 1)
        if request.threads == 0 && workers > 1 { target.options.intraOpThreads = max(1, cores / workers) }
        // The first lane's session, unless the batch rewrite replaces the model.
        let probe = try target.session(.file(request.model))
        // Lanes keep everything on the GPU: a backend that keeps data there (the CUDA engine), and
        // a head the GPU decodes (decided below).
        let wantsLanes = devices[0].isGPU && accelerator != nil && probe is any DeviceResidentSession && !request.checkPostprocess && request.postprocess != .cpu
        guard devices.count == 1 || wantsLanes else {
            throw PipelineError.badConfiguration("--device cuda:all: several GPUs need the CUDA engine's lanes (GPU postprocessing, no --check-postprocess)")
        }
        let model = try Model.load(contentsOf: request.model)
        let export = ExportMetadata(model)
        var images = request.images
        images.exportSize = export.imageSize
        var (input, preprocessor) = try images.preprocessor(for: probe.inputs)
        if let stride = export.stride, preprocessor.spec.height % stride != 0 || preprocessor.spec.width % stride != 0 {
            throw PipelineError.badConfiguration("the pictures would be \(preprocessor.spec.height)x\(preprocessor.spec.width), but the model's stride is \(stride) "
                + "(its metadata): give --size as multiples of \(stride)")
        }
        let names = model.metadata.first { $0.key == "names" }.flatMap { ClassNames.parse($0.value) } ?? ClassNames()
        // On the 2-core dev machine, two batch-1 sessions ran the YOLOX detector at 49 fps from
        // memory, batches of 2 and 4 at 45 and 40: a bigger batch's activations fall out of the
        // caches, and the sessions already keep both cores busy. GPUs want batches.
        let (batch, fixedBatch, rewritten, batchNotes) = try fitBatch(request.batch > 0 ? request.batch : (target.device == .cpu ? 1 : 8), model: model, input: input,
                                                                 checker: checker ?? target, warn: warn)
        let decoder = try headDecoder(probe, input: input, preprocessor: preprocessor, requested: request.decoder)
        var notes = batchNotes
        if decoder.layout == .gfl && !request.images.isGiven {
            // A GFL head is PP-PicoDet's (PaddleDetection) or NanoDet's: neither is letterboxed.
            // A Paddle export says so in its producer or its opsets (paddle2onnx imports a "Paddle"
            // domain); then its own convention is used.
            if model.producer.lowercased().firstRange(of: "paddle") != nil || model.opsetVersion("Paddle") != nil {
                var paddle = request.images
                (paddle.preset, paddle.size) = ("picodet320", (preprocessor.spec.height, preprocessor.spec.width))
                preprocessor = try paddle.preprocessor(for: probe.inputs).preprocessor
                notes.append("PaddleDetection's preprocessing for its GFL head (the picodet320 preset at \(preprocessor.spec.height)x\(preprocessor.spec.width): stretched, RGB, ImageNet mean/std)")
            } else {
                warn("detect: warning: a GFL head (PP-PicoDet, NanoDet) is not trained on letterboxed pictures, which is what runs without a preset; "
                    + "give its exporter's preprocessing: --image-preset picodet320 (PaddleDetection; --size for other sizes) or --image-spec")
            }
        }
        let nms = try NonMaximumSuppression(iouThreshold: request.iou, maxDetections: request.maxDetections, classAgnostic: request.classAgnostic)
        // Letterboxed detectors were trained and scored with boxes divided by the gain; other resize modes map exactly.
        let mapping: BoxMapping = preprocessor.spec.resize == .letterbox ? .letterboxGain : .resampledScale
        var cpu = try Postprocessor(decoder: decoder, scoreThreshold: request.score, nms: nms, mapping: mapping)
        cpu.multiLabel = request.multiLabel ?? (decoder.layout == .gfl)
        let spec = preprocessor.spec
        var summary = "\(request.model): \(decoder.description); '\(input.name)' \(spec.height)x\(spec.width) (HxW) \(spec.dtype.rawValue) \(spec.order.rawValue); "
        let modelSource = rewritten.map { ModelSource.bytes($0, name: request.model) } ?? .file(request.model)
        // The GPU decode keeps each anchor's best class only: multi-label heads decode on the CPU.
        let gpuDecodes = wantsLanes && accelerator!.decodesOnDevice(decoder) && !cpu.multiLabel

        if request.jpegDecoding == .cuda && !gpuDecodes {
            throw PipelineError.badConfiguration("--decode cuda decodes JPEGs in GPU lanes; they need --device cuda, the CUDA engine and a head the GPU decodes")
        }
        if gpuDecodes, let accelerator {
            // Annotating draws on the decoded frames, so it keeps JPEG decoding on the host.
            let nvjpeg = accelerator.jpegDecodingUnavailability()
            if request.jpegDecoding == .cuda, let nvjpeg { throw PipelineError.badConfiguration("--decode cuda: \(nvjpeg)") }
            if request.jpegDecoding == .cuda && request.annotates { throw PipelineError.badConfiguration("--decode cuda: --annotate draws on frames decoded on the host; use --decode cpu") }
            let jpegsOnGPU = request.jpegDecoding != .cpu && nvjpeg == nil && !request.annotates
            do {
                // The probe's session (model already read) serves the first lane unless the batch rewrite replaced the model.
                var spare: (any Session)? = rewritten == nil ? probe : nil
                let lanes = try devices.flatMap { device in
                    try (0..<workers).map { _ -> any DetectionLane in
                        let reused = device == devices[0] ? spare : nil
                        if reused != nil { spare = nil }
                        let session: any Session
                        do { session = try reused ?? target.backend.makeSession(modelSource, device: device, options: target.options) } catch {
                            throw InferenceError.notOnDevice("\(error)")
                        }
                        return try accelerator.lane(session: session, inputName: input.name, spec: spec, postprocessor: cpu, batchSize: batch, decodeJPEGs: jpegsOnGPU)
                    }
                }
                summary += "batch \(batch), \(lanes.count) GPU lane\(lanes.count == 1 ? "" : "s") (\(devices.map(\.description).joined(separator: ", ")), "
                    + "\(workers) per GPU): \(jpegsOnGPU ? "JPEG decoding (nvJPEG), " : "")preprocessing, the CUDA engine and postprocessing on the GPU"
                if !notes.isEmpty { summary += "; " + notes.joined(separator: "; ") }
                return DetectionSetup(lanes: lanes, preprocessor: preprocessor, names: names, batch: batch, summary: summary, decodesJPEGs: jpegsOnGPU,
                                      postprocessing: CPUPostprocessing(cpu), accelerator: accelerator)
            } catch let error where Self.needsHost(error) {
                guard devices.count == 1, request.postprocess == .auto else { throw error }
                // The model needs the host for some nodes: the host lanes still run it, slower.
                warn("detect: warning: no GPU lane (\(error)); running the engine with host outputs and postprocessing on the CPU")
            }
        } else if wantsLanes && devices.count > 1 {
            throw PipelineError.badConfiguration("--device cuda:all: the \(decoder.layout.rawValue) head is decoded on the CPU only, so it cannot run in GPU lanes; use one GPU")
        }
        let sessions = try rewritten.map { _ in try (0..<workers).map { _ in try target.session(modelSource) } }
            ?? [probe] + (1..<workers).map { _ in try target.session(modelSource) }
        let postprocessing = try hostPostprocessing(cpu, request: request, maxBatch: batch, accelerator: accelerator)
        let lanes = try sessions.map { session -> any DetectionLane in
            try HostDetectionLane(session: session, inputName: input.name, preprocessor: preprocessor, postprocessor: postprocessing, batchSize: batch, paddedBatch: fixedBatch)
        }
        summary += "batch \(batch), \(workers) inference worker\(workers == 1 ? "" : "s") on \(target.device) (\(target.backend.name)); postprocessing on \(postprocessing.placeName)"
            + (cpu.multiLabel ? " (multi-label)" : "")
        if !notes.isEmpty { summary += "; " + notes.joined(separator: "; ") }
        return DetectionSetup(lanes: lanes, preprocessor: preprocessor, names: names, batch: batch, summary: summary, decodesJPEGs: false,
                              postprocessing: postprocessing, accelerator: accelerator)
    }

    /// A lane that cannot keep the model on the device (a node on the host, a plan that does not
    /// fit): the host lanes may still run it.
    static func needsHost(_ error: any Error) -> Bool {
        if let error = error as? InferenceError, case .notOnDevice = error { true } else { false }
    }

    /// The batch the lanes run: a model with a fixed batch of 1 rewritten to take more where its
    /// graph allows (checked by running it), another fixed batch kept as the most a batch holds.
    private static func fitBatch(_ asked: Int, model: Model, input: TensorDescription, checker: ExecutionTarget, warn: (String) -> Void) throws
        -> (batch: Int, fixed: Int?, rewritten: Data?, notes: [String]) {
        guard let declared = input.dimensions.first ?? nil else { return (asked, nil, nil, []) }
        if declared == 1 && asked > 1 {
            let (bytes, outcome) = try BatchRewrite.rewrite(model, input: input.name) { try checker.session($0) }
            switch outcome {
            case .rewritten(let reshapes):
                return (asked, nil, bytes!, ["batch rewritten from 1 to \(asked) (\(reshapes) Reshape\(reshapes == 1 ? "" : "s") changed, checked against batch 1)"])
            case .notBatchable(let why):
                warn("detect: warning: running at batch 1: the model's fixed batch of 1 cannot be changed: \(why)")
                return (1, 1, nil, [])
            case .alreadyBatched:
                return (asked, nil, nil, [])
            }
        }
        guard declared != asked else { return (asked, nil, nil, []) }
        guard declared >= asked else {
            throw PipelineError.badConfiguration("--batch \(asked): input '\(input.name)' has a fixed batch of \(declared); give --batch \(declared) or less")
        }
        return (asked, declared, nil, [])
    }

    /// The CPU postprocessor, or the GPU's (checked against the CPU when asked).
    private static func hostPostprocessing(_ cpu: Postprocessor, request: DetectionRequest, maxBatch: Int, accelerator: (any DetectionAccelerator)?) throws
        -> any BatchPostprocessing {
        guard case .cuda(let device) = request.postprocess else { return CPUPostprocessing(cpu) }
        guard let accelerator, accelerator.decodesOnDevice(cpu.decoder), !cpu.multiLabel else {
            let what = cpu.multiLabel ? "multi-label decoding (--multi-label, or a GFL head's default)" : "the \(cpu.decoder.layout.rawValue) head"
            throw PipelineError.badConfiguration("--postprocess \(request.postprocess): \(what) is decoded on the CPU only; use --postprocess cpu")
        }
        return try accelerator.postprocessing(cpu, device: device, maxBatch: maxBatch, checked: request.checkPostprocess)
    }

    /// After the run: a GPU postprocess's kernel time and, when checked, how it agreed with the CPU.
    public func postprocessReport() -> (lines: [String], agrees: Bool)? {
        accelerator?.report(of: postprocessing, batch: batch)
    }

    /// The decoder for the session's outputs; where their shapes are symbolic beyond the batch,
    /// one run on a blank batch shows them.
    private static func headDecoder(_ session: any Session, input: TensorDescription, preprocessor: Preprocessor, requested: HeadLayout?) throws -> HeadDecoder {
        var outputs: [HeadOutput] = []
        if session.outputs.allSatisfy({ $0.dimensions.dropFirst().allSatisfy { $0 != nil } }) {
            outputs = session.outputs.map { HeadOutput(name: $0.name, shape: [1] + $0.dimensions.dropFirst().map { $0! }) }
        } else {
            let blank = try preprocessor.makeBatch(size: input.dimensions.first.flatMap { $0 } ?? 1)
            let produced = try session.run([input.name: blank])
            outputs = session.outputs.compactMap { d in produced[d.name].map { HeadOutput(name: d.name, shape: $0.shape.dimensions) } }
        }
        return try HeadDecoder.recognise(outputs, inputWidth: preprocessor.spec.width, inputHeight: preprocessor.spec.height, requested: requested)
    }
}
