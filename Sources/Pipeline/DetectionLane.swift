import Detection
import Dispatch
import Imaging

/// A worker that takes whole batches of decoded frames to detections on one device: preprocessing
/// and inference at `submit`, the detections at `wait`. Every pipeline is source → batcher →
/// lanes → reorder → sink; a lane is where a batch's device work happens:
/// - `HostDetectionLane`: a session on the CPU (or any backend with host outputs), preprocessing
///   and inference at `submit`, postprocessing at `wait`;
/// - the GPU lane (`PipelineCUDA`): everything queued on the device at `submit`, the kept boxes
///   read at `wait`. The pipeline submits batch N+1 while batch N is still on the device, so the
///   device never waits for the host (seed 002: batch end to end, keep tensors on the GPU, overlap
///   batch N's inference with N−1's postprocessing).
public protocol DetectionLane: AnyObject, Sendable {
    /// Where it runs, for traces and summaries ("cuda:0", "cpu").
    var place: String { get }
    /// The batch every submission is padded to.
    var batchSize: Int { get }
    /// Called once before the first batch, with the pipeline's clock (milliseconds), so device
    /// timings land on the same time line as the host's spans, and whether the run was cancelled
    /// (a submission waiting for a free slot gives up then).
    func start(clock: @escaping @Sendable () -> Double, cancelled: @escaping @Sendable () -> Bool) throws
    /// Queues one batch of at most `batchSize` pictures (pixels, or JPEGs for the device to
    /// decode) and returns without waiting for the device. Blocks only while every batch slot of
    /// the lane is still in flight.
    func submit(_ pictures: [PictureInput]) throws -> LaneSubmission
}

extension DispatchSemaphore {
    /// Waits for a lane's batch slot, looking at the run's cancellation every 50 ms: a lane whose
    /// earlier batch will never be collected (the run stopped) gives up instead of waiting forever.
    public func waitForSlot(unless cancelled: () -> Bool) throws(PipelineError) {
        while wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if cancelled() { throw .cancelled }
        }
    }
}

/// A span a lane timed itself, on the pipeline's clock.
public typealias LaneSpan = (stage: Stage, startMs: Double, endMs: Double)

/// A queued batch: where each image was placed, and how to wait for its detections.
public struct LaneSubmission: @unchecked Sendable {
    public var placements: [ImagePlacement]
    /// The host's work of `submit` (preprocessing, staging the pixels, a host session's inference).
    public var hostSpans: [LaneSpan]
    /// Waits for the device, then gives each image's detections and the device's spans.
    /// Call it exactly once: it frees the batch's slot for the lane's next submission.
    public var wait: () throws -> LaneOutcome

    public init(placements: [ImagePlacement], hostSpans: [LaneSpan], wait: @escaping () throws -> LaneOutcome) {
        self.placements = placements
        self.hostSpans = hostSpans
        self.wait = wait
    }
}

/// What a lane's batch gave.
public struct LaneOutcome: Sendable {
    public var detections: [[Detection]]
    /// The device's work on the batch, stage by stage, on the pipeline's clock (empty for a host lane).
    public var deviceSpans: [LaneSpan]
    /// Host work done for the batch off the lane's own thread (a host lane's inference).
    public var hostSpans: [LaneSpan]
    /// Host milliseconds of postprocessing in `wait`: a host lane's decode and NMS, or reading a
    /// device's results once it was done.
    public var hostMs: Double

    public init(detections: [[Detection]], deviceSpans: [LaneSpan], hostSpans: [LaneSpan] = [], hostMs: Double) {
        self.detections = detections
        self.deviceSpans = deviceSpans
        self.hostSpans = hostSpans
        self.hostMs = hostMs
    }
}
