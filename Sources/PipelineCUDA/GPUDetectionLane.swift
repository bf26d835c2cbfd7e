import CUDA
import Detection
import DetectionCUDA
import Dispatch
import FoundationEssentials
import Imaging
import ImagingCUDA
import Inference
import Pipeline
import Synchronization
import Tensors

/// One GPU's lane of the detection pipeline: the frames' pixels go up once, and everything after
/// stays on the device until only the kept boxes come back.
///
/// Three streams, ordered by events, with `depth` batches in flight:
/// - copy stream: the staged pixels of batch N+1 go up while the engine runs batch N; JPEG frames
///   go up compressed and nvJPEG decodes them into their places there;
/// - engine stream: the fused preprocessing kernel writes straight into the engine's input, then
///   the engine's CUDA graph runs;
/// - postprocess stream: decode, sort, NMS and the mapping back for the whole batch, reading the
///   engine's output in place (no device → host copy of the raw head), then the kept boxes down.
///   The engine's next run waits only for the decode to have read its output, so batch N's NMS
///   overlaps batch N+1's inference.
public final class GPUDetectionLane: DetectionLane, @unchecked Sendable {
    public let place: String
    public let batchSize: Int
    let binding: any DeviceBinding
    /// The binding's queue: the engine's stream.
    let engineStream: CUDAStream
    let input: DeviceRegion
    let outputs: [(region: DeviceRegion, dtype: DType, shape: [Int])]
    let preprocessor: GPUPreprocessor
    let postprocessor: GPUPostprocessor
    let copyStream: CUDAStream
    /// Decodes JPEG frames on this GPU (nil: the lane takes pixels only).
    let jpegDecoder: JPEGDecoderGPU?
    private let slots: [Slot]
    private var nextSlot = 0
    /// The decode of the batch before: the engine's output must be read before it is written again.
    private var lastDecoded: CUDAEvent?
    private var origin: (event: CUDAEvent, ms: Double)?
    private var cancelled: @Sendable () -> Bool = { false }
    private var clock: @Sendable () -> Double = { 0 }

    final class Slot: @unchecked Sendable {
        /// Made at 0 and signalled once: libdispatch traps when a semaphore is freed below its
        /// initial value, which a run stopped mid-batch would otherwise do.
        let free = DispatchSemaphore(value: 0)
        /// uploadStart → copied: the staging copy; copied → uploaded: nvJPEG's decodes, if any.
        let uploadStart, copied, uploaded, preprocessStart, preprocessed, inferred: CUDAEvent
        init(_ context: CUDAContext) throws(CUDAError) {
            (uploadStart, copied, uploaded) = (try CUDAEvent(context), try CUDAEvent(context), try CUDAEvent(context))
            (preprocessStart, preprocessed, inferred) = (try CUDAEvent(context), try CUDAEvent(context), try CUDAEvent(context))
            free.signal()
        }
    }

    /// - Parameters:
    ///   - session: a session of the detector on this lane's GPU whose backend keeps data on the
    ///     device (the CUDA engine); a lane owns its session.
    ///   - spec: the preprocessing the model was trained with (its type must be the model input's).
    ///   - postprocessor: the CPU postprocessor the GPU one must equal (decoder, thresholds, mapping).
    ///   - depth: batches in flight at once (2: one on the device, one being queued).
    ///   - decodeJPEGs: decode JPEG frames with nvJPEG on this GPU (the library must load).
    public init(session: any Session, inputName: String, spec: PreprocessSpec, postprocessor cpu: Postprocessor, batchSize: Int, depth: Int = 2,
                decodeJPEGs: Bool = false) throws {
        guard batchSize >= 1, depth >= 1 else { throw PipelineError.badConfiguration("a lane needs a batch and a depth of at least 1") }
        guard GPUPostprocessor.supports(cpu.decoder) else {
            throw PipelineError.badConfiguration("the \(cpu.decoder.layout.rawValue) head is decoded on the CPU only; it cannot run in a GPU lane")
        }
        let cpuPreprocessor = try Preprocessor(spec: spec)
        let shape = cpuPreprocessor.batchShape(size: batchSize).dimensions
        let binding: any DeviceBinding
        do { binding = try session.deviceBinding(inputShapes: [inputName: shape]) } catch let error as InferenceError { throw error } catch {
            // The backend could not plan the model with its data on the device: the host lanes may run it.
            throw InferenceError.notOnDevice("\(error)")
        }
        self.binding = binding
        guard let stream = binding.queue as? CUDAStream else { throw PipelineError.badModel("\(session.source) is bound to \(binding.device), not a CUDA stream") }
        engineStream = stream
        func region(_ tensor: DeviceTensor, _ name: String) throws -> DeviceRegion {
            guard let region = tensor.memory as? DeviceRegion else { throw PipelineError.badModel("'\(name)' of \(session.source) is not in CUDA memory") }
            return region
        }
        guard let bound = binding.inputs[inputName] else { throw PipelineError.badConfiguration("the model has no input '\(inputName)'") }
        guard bound.dtype == spec.dtype.dtype, bound.shape == shape else {
            throw PipelineError.badConfiguration("the model's input '\(inputName)' is \(bound.dtype) \(bound.shape); the preprocessing writes \(spec.dtype.dtype) \(shape)")
        }
        input = try region(bound, inputName)
        outputs = try cpu.decoder.outputNames.map { name in
            guard let output = binding.outputs[name] else { throw PipelineError.badConfiguration("the model has no output '\(name)'") }
            return (try region(output, name), output.dtype, output.shape)
        }
        let context = stream.context
        let allocator = DeviceAllocator(context: context)
        preprocessor = try GPUPreprocessor(spec: spec, allocator: allocator)
        postprocessor = try GPUPostprocessor(cpu, maxBatch: batchSize, allocator: allocator, slots: depth)
        copyStream = preprocessor.stream
        jpegDecoder = decodeJPEGs ? try JPEGDecoderGPU(context: context) : nil
        slots = try (0..<depth).map { _ in try Slot(context) }
        self.batchSize = batchSize
        place = session.device.description
    }

    public func start(clock: @escaping @Sendable () -> Double, cancelled: @escaping @Sendable () -> Bool) throws {
        self.cancelled = cancelled
        self.clock = clock
        // Device events become pipeline milliseconds through one event the host saw complete.
        let event = try CUDAEvent(engineStream.context)
        try engineStream.synchronize()
        try event.record(on: engineStream)
        try event.synchronize()
        origin = (event, clock())
    }

    public func submit(_ images: [PictureInput]) throws -> LaneSubmission {
        guard images.count <= batchSize else { throw PipelineError.badConfiguration("\(images.count) frames for a lane of batch \(batchSize)") }
        let begin = clock()
        let index = nextSlot
        nextSlot = (nextSlot + 1) % slots.count
        let slot = slots[index]
        // The slot's last batch must have been collected (its pinned results read).
        try slot.free.waitForSlot(unless: cancelled)
        do {
            let placements = try preprocessor.stage(pictures: images, batchSize: batchSize, slot: index)
            try slot.uploadStart.record(on: copyStream)
            try preprocessor.upload(slot: index, on: copyStream)
            try slot.copied.record(on: copyStream)
            // JPEGs decode into their places in the staging area, after its upload.
            var decodes = 0
            if images.contains(where: { if case .jpeg = $0 { true } else { false } }) {
                guard let jpegDecoder else { throw PipelineError.badConfiguration("a JPEG frame reached a lane without nvJPEG") }
                decodes = try preprocessor.decodeJPEGs(slot: index, with: jpegDecoder, on: copyStream)
            }
            try slot.uploaded.record(on: copyStream)
            let engine = engineStream
            try engine.wait(for: slot.uploaded)
            if let lastDecoded { try engine.wait(for: lastDecoded) }
            try slot.preprocessStart.record(on: engine)
            try preprocessor.runKernel(slot: index, into: input, on: engine)
            try slot.preprocessed.record(on: engine)
            try binding.enqueue()
            try slot.inferred.record(on: engine)
            let pending = try postprocessor.enqueue(head: (outputs[0].region, outputs[0].dtype), scores: outputs.count > 1 ? (outputs[1].region, outputs[1].dtype) : nil,
                                                    shapes: outputs.map(\.shape), batch: batchSize, placements: placements, slot: index, after: slot.inferred)
            lastDecoded = pending.decoded
            // Host span: the pixels staged in pinned memory and the device work queued.
            return LaneSubmission(placements: placements, hostSpans: [(.preprocess, begin, clock())]) { [self] in try collect(pending, slot: slot, decodes: decodes) }
        } catch {
            slot.free.signal()
            throw error
        }
    }

    private func collect(_ pending: GPUPostprocessor.Pending, slot: Slot, decodes: Int) throws -> LaneOutcome {
        defer { slot.free.signal() }
        let detections = try postprocessor.collect(pending)
        let clock = ContinuousClock(), begin = clock.now
        guard let origin else { throw PipelineError.internal("the GPU lane was not started before its first batch") }
        func at(_ event: CUDAEvent) throws -> Double { origin.ms + (try event.milliseconds(since: origin.event)) }
        var spans: [LaneSpan] = [(.upload, try at(slot.uploadStart), try at(slot.copied))]
        if decodes > 0 { spans.append((.decode, try at(slot.copied), try at(slot.uploaded))) }
        spans += [
            (.preprocess, try at(slot.preprocessStart), try at(slot.preprocessed)),
            (.inference, try at(slot.preprocessed), try at(slot.inferred)),
            (.postprocess, try at(pending.started), try at(pending.finished)),
        ]
        return LaneOutcome(detections: detections, deviceSpans: spans, hostMs: (clock.now - begin).milliseconds)
    }
}
