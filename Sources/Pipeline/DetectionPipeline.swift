import Detection
import Dispatch
import FoundationEssentials
import Imaging
import Inference
import Synchronization
import Tensors

/// How a pipeline batches and buffers.
public struct PipelineConfiguration: Sendable, Equatable {
    /// Frames per batch.
    public var batchSize: Int = 8
    /// How long a partial batch waits for more frames before it goes anyway (nil: until full or
    /// the end of the stream, right for files; live sources want a few tens of milliseconds).
    public var maxWaitMs: Double?
    /// Batches buffered between stages (back-pressure beyond it).
    public var queueDepth: Int = 2
    /// Drop frames of a live source when the pipeline is behind, instead of blocking it (counted).
    public var dropWhenBehind = false
    /// Hand each frame's decoded image to the sink (for drawing).
    public var keepImages = false

    public init() {}
}

/// One frame's outcome, in order.
public struct FrameResult: Sendable {
    public var info: FrameInfo
    public var detections: [Detection]
    /// The decoded frame, when the configuration keeps images.
    public var image: Image?
    /// Why the frame has no detections because it could not be read (nil for a frame read fine).
    public var error: String?
}

/// Where one batch's time went.
public struct BatchTimings: Sendable, Equatable {
    public var decodeMs: Double
    public var preprocessMs: Double
    public var inferenceMs: Double
    public var postprocessMs: Double
    /// From its first frame's decode starting to its results reaching the sink.
    public var latencyMs: Double
}

/// One batch's results, handed to the sink in order.
public struct BatchResult: Sendable {
    public var index: Int
    public var frames: [FrameResult]
    public var timings: BatchTimings
    /// When its first frame began decoding (profiler milliseconds): the start of its latency.
    var firstFrameMs: Double
}

/// What a whole run did.
public struct PipelineReport: Sendable {
    public var frames: Int
    public var failedFrames: Int
    public var droppedFrames: Int
    public var batches: Int
    public var detections: Int
    public var wallMs: Double
    public var framesPerSecond: Double { wallMs > 0 ? Double(frames) / wallMs * 1000 : 0 }
    public var stages: [StageSummary]
}

/// source → batcher → lanes → reorder → sink, each stage on its own thread, joined by bounded
/// queues: the source decodes frames, the batcher gathers them, each lane preprocesses and runs a
/// batch (on the CPU, or queued on a GPU), and the reorder stage takes the lanes' detections back
/// in order. Batch N's inference overlaps batch N+1's decoding and batch N−1's postprocessing.
/// Frames come out in order, every one accounted for (read, failed with a reason, or counted as
/// dropped).
public final class DetectionPipeline {
    public let configuration: PipelineConfiguration
    public let profiler: Profiler
    let source: any FrameSource
    /// Each takes decoded frames to detections on its device, one batch per lane at a time in turn.
    let lanes: [any DetectionLane]

    public init(source: any FrameSource, lanes: [any DetectionLane], configuration: PipelineConfiguration, profiler: Profiler = Profiler()) throws(PipelineError) {
        guard lanes.count >= 1 else { throw .badConfiguration("a pipeline needs at least one lane") }
        guard configuration.batchSize >= 1 else { throw .badConfiguration("the batch size must be at least 1, got \(configuration.batchSize)") }
        guard configuration.queueDepth >= 1 else { throw .badConfiguration("the queue depth must be at least 1, got \(configuration.queueDepth)") }
        if let small = lanes.first(where: { $0.batchSize < configuration.batchSize }) {
            throw .badConfiguration("the \(small.place) lane takes batches of \(small.batchSize); a batch of \(configuration.batchSize) does not fit")
        }
        if let wait = configuration.maxWaitMs, !(wait >= 0) { throw .badConfiguration("--max-wait must be 0 or more milliseconds, got \(wait)") }
        self.source = source
        self.lanes = lanes
        self.configuration = configuration
        self.profiler = profiler
    }

    // The items stages hand on.
    struct DecodedFrame: Sendable {
        var frame: SourceFrame
        var decodeMs: Double
        var startMs: Double
    }
    struct GatheredBatch: Sendable {
        var index: Int
        var frames: [SourceFrame]
        /// The slot of each frame that has an image (nil: unreadable, no slot).
        var slots: [Int?]
        var placements: [ImagePlacement] = []
        /// The readable frames' pictures, for the lane (which preprocesses them on its device).
        var pictures: [PictureInput]
        var timings: BatchTimings
        var firstFrameMs: Double
    }
    struct SubmittedBatch: @unchecked Sendable {
        var batch: GatheredBatch
        /// Waits for the lane and gives the detections (nil: no readable frame, nothing submitted).
        var pending: (() throws -> LaneOutcome)?
        var lane: Int
        var place: String
    }
    enum Item<T: Sendable>: Sendable { case value(T), end }

    /// Runs the pipeline to the end of the source, calling `sink` with every batch in order on the
    /// calling thread.
    /// - Throws: the first stage failure (a sink error stops the pipeline too).
    public func run(_ sink: (BatchResult) throws -> Void) throws -> PipelineReport {
        let cancellation = Cancellation()
        // Before any thread starts: a lane that cannot start leaves nothing running.
        for lane in lanes { try lane.start(clock: { [profiler] in profiler.now() }, cancelled: { cancellation.isCancelled }) }
        let depth = configuration.queueDepth
        let frames = BoundedQueue<Item<DecodedFrame>>(capacity: configuration.batchSize * depth, cancellation: cancellation)
        let batches = BoundedQueue<Item<GatheredBatch>>(capacity: depth, cancellation: cancellation)
        let submitted = BoundedQueue<Item<SubmittedBatch>>(capacity: depth + lanes.count, cancellation: cancellation)
        let results = BoundedQueue<Item<BatchResult>>(capacity: depth, cancellation: cancellation)
        let dropped = DroppedCounter()
        let group = DispatchGroup()
        let started = profiler.now()

        func launch(_ label: String, _ body: @escaping @Sendable () throws -> Void) {
            group.enter()
            DispatchQueue(label: "halfpipe.\(label)").async {
                defer { group.leave() }
                do { try body() } catch { cancellation.cancel(error) }
            }
        }
        let me = UncheckedSendable(self)
        launch("decode") { try me.value.decodeStage(into: frames, dropped: dropped, cancellation: cancellation) }
        launch("batch") { try me.value.batchStage(from: frames, into: batches, cancellation: cancellation) }
        for (index, lane) in lanes.enumerated() {
            launch("lane.\(index)") { try me.value.laneStage(lane, index: index, from: batches, into: submitted) }
        }
        launch("reorder") { try me.value.reorderStage(from: submitted, into: results, cancellation: cancellation) }

        var report = PipelineReport(frames: 0, failedFrames: 0, droppedFrames: 0, batches: 0, detections: 0, wallMs: 0, stages: [])
        while let item = results.pop(), case .value(var batch) = item {
            batch.timings.latencyMs = profiler.now() - batch.firstFrameMs
            do {
                _ = try profiler.measure(.sink, batch: batch.index, frames: batch.frames.count) { try sink(batch) }
            } catch {
                cancellation.cancel(error)
                break
            }
            report.batches += 1
            report.frames += batch.frames.count
            report.failedFrames += batch.frames.filter { $0.error != nil }.count
            report.detections += batch.frames.reduce(0) { $0 + $1.detections.count }
        }
        group.wait()
        if let error = cancellation.error { throw error }
        report.droppedFrames = dropped.value
        report.wallMs = profiler.now() - started
        report.stages = profiler.summary()
        return report
    }
}

/// Frames a live source dropped because the pipeline was behind.
final class DroppedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
