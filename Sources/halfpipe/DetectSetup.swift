import ArgumentParser
import CUDA
import CUDAEngine
import Detection
import DetectionCUDA
import FoundationEssentials
import Imaging
import Inference
import ONNX
import ONNXRuntime
import Pipeline
import Tensors

/// Everything `detect` builds before frames flow: the sessions (of the batch-rewritten model where
/// needed), the preprocessing fitted to the input, the head decoder and the class names.
struct DetectSetup {
    var sessions: [any Session]
    /// Device lanes (GPU preprocessing, the engine and GPU postprocessing); empty on the host path.
    var lanes: [any DetectionLane] = []
    var inputName: String
    var preprocessor: Preprocessor
    var postprocessor: any BatchPostprocessing
    var names: ClassNames
    var batch: Int
    /// The batch the model insists on, when it has a fixed one.
    var fixedBatch: Int?
    var summary: String
    /// The lanes decode JPEG files with nvJPEG (the sources leave them compressed).
    var decodesJPEGs = false
    var workerCount: Int { lanes.isEmpty ? sessions.count : lanes.count }

    static func make(_ command: Detect) throws -> DetectSetup {
        let devices = try command.runtime.device.resolve()
        var target = ExecutionTarget(backend: try Backends.backend(for: devices[0], libraryPath: command.runtime.ortLibrary), device: devices[0],
                                     options: try command.runtime.sessionOptions())
        // Lanes keep everything on the GPU: the engine, and a head the GPU decodes (decided below).
        let wantsLanes = devices[0].isGPU && target.backend is CUDAEngineBackend && !command.checkPostprocess && command.postprocess != "cpu"
        guard devices.count == 1 || wantsLanes else {
            throw CLIError("--device \(command.runtime.device.device): several GPUs need the CUDA engine's lanes (GPU postprocessing, no --check-postprocess)")
        }
        // Measured on the 2-core dev machine (vtest.avi, the YOLOX detector): two 1-thread sessions
        // 43 fps, one 2-thread session 36-40 fps: ORT's pool synchronises every op of a small model.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = command.workers > 0 ? command.workers : (target.device == .cpu && cores >= 2 ? 2 : 1)
        if command.runtime.threads == 0 && workers > 1 {
            target.options.intraOpThreads = max(1, cores / workers)
        }
        // The first worker's session, unless the batch rewrite replaces the model.
        let probe = try target.session(.file(command.model))
        let (input, preprocessor) = try command.imageFeed.preprocessor(for: probe.inputs)
        let model = try Model.load(contentsOf: command.model)
        let names = model.metadata.first { $0.key == "names" }.flatMap { ClassNames.parse($0.value) } ?? ClassNames()

        // On the 2-core dev machine, two batch-1 sessions ran the YOLOX detector at 49 fps from
        // memory, batches of 2 and 4 at 45 and 40: a bigger batch's activations fall out of the
        // caches, and the sessions already keep both cores busy. GPUs want batches.
        var batch = command.batch > 0 ? command.batch : (target.device == .cpu ? 1 : 8)
        var fixedBatch: Int?
        var source: ModelSource?
        var notes: [String] = []
        if let declared = input.dimensions.first ?? nil {
            if declared == 1 && batch > 1 {
                // The rewrite is a property of the graph: checked on ONNX Runtime on the CPU where it
                // loads (exact to 1e-4 there; a GPU's algorithms may differ between batch sizes).
                let ort = ORTBackend(libraryPath: command.runtime.ortLibrary)
                let checker = target.device.isGPU && ort.unavailability(on: .cpu) == nil ? ExecutionTarget(backend: ort, device: .cpu) : target
                let (bytes, outcome) = try BatchRewrite.rewrite(model, input: input.name) { try checker.session($0) }
                switch outcome {
                case .rewritten(let reshapes):
                    source = .bytes(bytes!, name: command.model)
                    notes.append("batch rewritten from 1 to \(batch) (\(reshapes) Reshape\(reshapes == 1 ? "" : "s") changed, checked against batch 1)")
                case .notBatchable(let why):
                    printStandardError("detect: warning: running at batch 1: the model's fixed batch of 1 cannot be changed: \(why)")
                    batch = 1
                    fixedBatch = 1
                case .alreadyBatched:
                    break
                }
            } else if declared != batch {
                guard declared >= batch else {
                    throw CLIError("--batch \(batch): input '\(input.name)' has a fixed batch of \(declared); give --batch \(declared) or less")
                }
                fixedBatch = declared
                batch = min(batch, declared)
            }
        }
        let decoder = try headDecoder(probe, input: input, preprocessor: preprocessor, requested: command.decoder == "auto" ? nil : HeadLayout(rawValue: command.decoder))
        let nms = try NonMaximumSuppression(iouThreshold: command.iou, maxDetections: command.maxDetections, classAgnostic: command.classAgnostic)
        // Letterboxed detectors were trained and scored with boxes divided by the gain; other resize modes map exactly.
        let mapping: BoxMapping = preprocessor.spec.resize == .letterbox ? .letterboxGain : .resampledScale
        let cpuPostprocessor = try Postprocessor(decoder: decoder, scoreThreshold: command.score, nms: nms, mapping: mapping)
        let spec = preprocessor.spec
        let head = "\(command.model): \(decoder.description); '\(input.name)' \(spec.width)x\(spec.height) \(spec.dtype.rawValue) \(spec.order.rawValue); "
        let modelSource = source ?? .file(command.model)

        if command.decode == "cuda" && !(wantsLanes && GPUPostprocessor.supports(decoder)) {
            throw CLIError("--decode cuda decodes JPEGs in GPU lanes; they need --device cuda, the CUDA engine and a head the GPU decodes")
        }
        if wantsLanes && GPUPostprocessor.supports(decoder) {
            // Annotating draws on the decoded frames, so it keeps JPEG decoding on the host.
            let nvjpeg = JPEGDecoderGPU.unavailability()
            if command.decode == "cuda", let nvjpeg { throw CLIError("--decode cuda: \(nvjpeg)") }
            if command.decode == "cuda" && command.annotate != nil { throw CLIError("--decode cuda: --annotate draws on frames decoded on the host; use --decode cpu") }
            let jpegsOnGPU = command.decode != "cpu" && nvjpeg == nil && command.annotate == nil
            do {
                // The probe's session (model already read) serves the first lane unless the batch rewrite replaced the model.
                var spare = source == nil ? probe as? EngineSession : nil
                let lanes = try devices.flatMap { device in
                    try (0..<workers).map { _ -> any DetectionLane in
                        let reused = device == devices[0] ? spare : nil
                        if reused != nil { spare = nil }
                        guard let session = try reused ?? target.backend.makeSession(modelSource, device: device, options: target.options) as? EngineSession else {
                            throw CLIError("internal: the CUDA engine made no engine session")
                        }
                        return try GPUDetectionLane(session: session, inputName: input.name, spec: spec, postprocessor: cpuPostprocessor, batchSize: batch,
                                                    decodeJPEGs: jpegsOnGPU)
                    }
                }
                var summary = head + "batch \(batch), \(lanes.count) GPU lane\(lanes.count == 1 ? "" : "s") (\(devices.map(\.description).joined(separator: ", ")), "
                    + "\(workers) per GPU): \(jpegsOnGPU ? "JPEG decoding (nvJPEG), " : "")preprocessing, the CUDA engine and postprocessing on the GPU"
                if !notes.isEmpty { summary += "; " + notes.joined(separator: "; ") }
                return DetectSetup(sessions: [], lanes: lanes, inputName: input.name, preprocessor: preprocessor, postprocessor: CPUPostprocessing(cpuPostprocessor),
                                   names: names, batch: batch, fixedBatch: nil, summary: summary, decodesJPEGs: jpegsOnGPU)
            } catch let error as EngineError {
                guard devices.count == 1, command.postprocess == "auto" else { throw error }
                // The model needs the host for some nodes: the host path still runs it, slower.
                printStandardError("detect: warning: no GPU lane (\(error)); running the engine with host outputs and postprocessing on the CPU")
            }
        } else if wantsLanes && devices.count > 1 {
            throw CLIError("--device \(command.runtime.device.device): the \(decoder.layout.rawValue) head is decoded on the CPU only, so it cannot run in GPU lanes; use one GPU")
        }
        let sessions = try source.map { rewritten in try (0..<workers).map { _ in try target.session(rewritten) } }
            ?? [probe] + (1..<workers).map { _ in try target.session(.file(command.model)) }
        let postprocessor = try postprocessing(cpuPostprocessor, command: command, maxBatch: batch)
        var summary = head + "batch \(batch), \(workers) inference worker\(workers == 1 ? "" : "s") on \(target.device) (\(target.backend.name)); postprocessing on \(postprocessor.placeName)"
        if !notes.isEmpty { summary += "; " + notes.joined(separator: "; ") }
        return DetectSetup(sessions: sessions, inputName: input.name, preprocessor: preprocessor, postprocessor: postprocessor, names: names,
                           batch: batch, fixedBatch: fixedBatch, summary: summary)
    }

    /// The CPU postprocessor, or the GPU's (checked against the CPU when asked).
    private static func postprocessing(_ cpu: Postprocessor, command: Detect, maxBatch: Int) throws -> any BatchPostprocessing {
        guard command.postprocess != "cpu" && command.postprocess != "auto" else { return CPUPostprocessing(cpu) }
        guard GPUPostprocessor.supports(cpu.decoder) else {
            throw CLIError("--postprocess \(command.postprocess): the \(cpu.decoder.layout.rawValue) head is decoded on the CPU only; use --postprocess cpu")
        }
        let index = command.postprocess.split(separator: ":").dropFirst().first.flatMap { Int($0) } ?? 0
        let gpu = try GPUPostprocessor(cpu, maxBatch: maxBatch, allocator: DeviceAllocator(context: CUDAContext(device: index)))
        return command.checkPostprocess ? CheckedPostprocessing(gpu) : gpu
    }

    /// After the run: the GPU postprocess's kernel time, and with a check, how it agreed with the CPU.
    func reportPostprocess(frames: Int) throws {
        let gpu = (postprocessor as? GPUPostprocessor) ?? (postprocessor as? CheckedPostprocessing)?.gpu
        guard let gpu else { return }
        let times = gpu.kernelTimes.withLock { $0 }.sorted()
        var line = "detect: GPU postprocess p50 \(NumberText.fixed(Percentiles.value(0.5, ofSorted: times), 3)) ms per batch of up to \(batch) (kernels, CUDA events)"
        let overflow = gpu.overflowingFrames.load(ordering: .relaxed)
        if overflow > 0 { line += "; \(overflow) frame(s) had more than \(GPUPostprocessor.capacity) candidates (the GPU kept \(GPUPostprocessor.capacity))" }
        printStandardError(line)
        guard let checked = postprocessor as? CheckedPostprocessing else { return }
        let a = checked.agreement, cpu = checked.cpuMilliseconds.sorted()
        printStandardError("detect: GPU vs CPU postprocess: \(a.frames) frames, \(a.boxes) boxes, \(a.mismatchedFrames) frame(s) differ; "
            + "worst IoU \(NumberText.fixed(Double(a.worstIoU), 6)), largest score difference \(NumberText.scientific(Double(a.largestScoreDifference))); "
            + "CPU p50 \(NumberText.fixed(Percentiles.value(0.5, ofSorted: cpu), 3)) ms per batch")
        if let first = a.firstDifference { printStandardError("detect: first difference (GPU, then CPU): \(first)") }
        if a.mismatchedFrames > 0 { throw ExitCode(1) }
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
        let spec = preprocessor.spec
        do {
            return try HeadDecoder.recognise(outputs, inputWidth: spec.width, inputHeight: spec.height, requested: requested)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// Opens the command line's sources in order: videos and streams through GStreamer, still
/// images (files and folders, decoded on every core), .npy frame arrays.
enum DetectSources {
    static let videoExtensions: Set<String> = ["avi", "mp4", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "ts", "flv", "wmv", "ogv", "3gp"]

    static func open(_ paths: [String], order: ChannelOrder, jpegsOnGPU: Bool = false) throws -> any FrameSource {
        var sources: [any FrameSource] = []
        var images: [String] = []
        func flushImages() {
            if !images.isEmpty { sources.append(ImageFileSource(files: images, order: order, jpegsStayEncoded: jpegsOnGPU)); images = [] }
        }
        for path in paths {
            let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
            if path.hasPrefix("/dev/video") || path.firstRange(of: "://") != nil || videoExtensions.contains(ext) {
                flushImages()
                do { sources.append(try VideoSource(path, order: order)) } catch let error as VideoError { throw CLIError("\(error)") }
            } else if ext == "npy" {
                flushImages()
                sources.append(ArraySource(files: [path]))
            } else {
                images += try ImageFiles.expand([path])
            }
        }
        flushImages()
        return sources.count == 1 ? sources[0] : SourceSequence(sources)
    }
}
