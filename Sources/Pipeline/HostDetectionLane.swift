import Detection
import Dispatch
import FoundationEssentials
import Imaging
import Inference
import Synchronization
import Tensors

/// A lane whose model runs with host inputs and outputs: a session on the CPU (ONNX Runtime), or
/// an engine whose nodes need the host. `submit` preprocesses the batch on the CPU and queues the
/// session's run on the lane's own inference thread, so the lane preprocesses batch N+1 while its
/// session runs batch N (at most `depth` batches in flight); `wait`, called in batch order by the
/// pipeline's reorder stage, takes the outputs and decodes and suppresses the boxes (on the CPU,
/// or a GPU postprocessor that reads host outputs). Several host lanes side by side are the CPU's
/// inference workers.
public final class HostDetectionLane: DetectionLane, @unchecked Sendable {
    public let place: String
    public let batchSize: Int
    let session: any Session
    let inputName: String
    let preprocessor: Preprocessor
    let postprocessor: any BatchPostprocessing
    /// A fixed-batch model's batch: partial batches are padded to it (nil: batches go as they are).
    let paddedBatch: Int?
    private let inference: DispatchQueue
    /// Batches in flight. Made at 0 and raised: libdispatch traps when a semaphore is freed below
    /// its initial value, which a run stopped mid-batch would otherwise do.
    private let slots = DispatchSemaphore(value: 0)
    private var clock: @Sendable () -> Double = { 0 }
    private var cancelled: @Sendable () -> Bool = { false }

    /// - Parameters:
    ///   - session: the lane's own session (the lane runs one batch at a time on it).
    ///   - batchSize: the most frames a submission holds; `paddedBatch` when the model fixes its batch.
    ///   - postprocessor: shared by the lanes of a pipeline: `wait` runs on the one reorder thread.
    ///   - depth: batches in flight (2: one in the session, the next being preprocessed).
    public init(session: any Session, inputName: String, preprocessor: Preprocessor, postprocessor: any BatchPostprocessing, batchSize: Int,
                paddedBatch: Int? = nil, depth: Int = 2) throws(PipelineError) {
        guard batchSize >= 1, depth >= 1 else { throw .badConfiguration("a lane needs a batch and a depth of at least 1, got \(batchSize) and \(depth)") }
        if let paddedBatch, paddedBatch < batchSize {
            throw .badConfiguration("the model takes batches of exactly \(paddedBatch); a batch of \(batchSize) does not fit")
        }
        guard session.inputs.contains(where: { $0.name == inputName }) else {
            throw .badModel("\(session.source) has no input '\(inputName)' (inputs: \(session.inputs.map(\.name).joined(separator: ", ")))")
        }
        self.session = session
        self.inputName = inputName
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.batchSize = paddedBatch ?? batchSize
        self.paddedBatch = paddedBatch
        place = session.device.description
        inference = DispatchQueue(label: "halfpipe.host-lane.\(place)")
        for _ in 0..<depth { slots.signal() }
    }

    public func start(clock: @escaping @Sendable () -> Double, cancelled: @escaping @Sendable () -> Bool) throws {
        self.clock = clock
        self.cancelled = cancelled
    }

    public func submit(_ pictures: [PictureInput]) throws -> LaneSubmission {
        let begin = clock()
        let images = try pictures.map { try $0.hostImage() }
        let (tensor, placements) = try preprocessor.batch(images, size: paddedBatch ?? images.count)
        let preprocessed = clock()
        // The batch before last must have been collected (its outputs handed on).
        try slots.waitForSlot(unless: cancelled)
        let ran = Mutex<(Result<[String: Tensor], any Error>, LaneSpan)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let (session, input, clock) = (UncheckedSendable(session), inputName, clock)
        let batch = UncheckedSendable(tensor)
        inference.async {
            let start = clock()
            let outputs = Result { try session.value.run([input: batch.value]) }
            ran.withLock { $0 = (outputs, (.inference, start, clock())) }
            done.signal()
        }
        let postprocessor = postprocessor, slots = slots
        return LaneSubmission(placements: placements, hostSpans: [(.preprocess, begin, preprocessed)]) {
            done.wait()
            defer { slots.signal() }
            let (outputs, span) = ran.withLock { $0! }
            let timer = ContinuousClock(), start = timer.now
            let detections = try postprocessor.detections(try outputs.get(), placements: placements)
            return LaneOutcome(detections: detections, deviceSpans: [], hostSpans: [span], hostMs: (timer.now - start).milliseconds)
        }
    }
}
