import Detection
import Dispatch
import FoundationEssentials
import Imaging
import Inference
import Tensors

// The body of each stage thread of `DetectionPipeline`.
extension DetectionPipeline {
    /// Reads frames until the source ends; a live source that gets ahead drops (and counts) frames
    /// when asked to, else waits.
    func decodeStage(into frames: BoundedQueue<Item<DecodedFrame>>, dropped: DroppedCounter, cancellation: Cancellation) throws {
        defer { frames.push(.end) }
        let drop = configuration.dropWhenBehind && source.isLive
        var index = 0
        while !cancellation.isCancelled {
            let begin = profiler.now()
            guard let frame = try source.next(index: index) else { return }
            let end = profiler.now()
            profiler.record(Span(stage: .decode, lane: 0, batch: -1, frames: 1, startMs: begin, endMs: end))
            let item = Item.value(DecodedFrame(frame: frame, decodeMs: end - begin, startMs: begin))
            if drop {
                if frames.tryPush(item) { index += 1 } else { dropped.add() }
            } else {
                guard frames.push(item) else { return }
                index += 1
            }
        }
    }

    /// Gathers frames into batches (a partial one goes after `maxWaitMs`, or at the end) and
    /// preprocesses each in one fused pass.
    func preprocessStage(from frames: BoundedQueue<Item<DecodedFrame>>, into batches: BoundedQueue<Item<PreparedBatch>>, cancellation: Cancellation) throws {
        defer { for _ in 0..<workerCount { batches.push(.end) } }
        var index = 0
        var ended = false
        while !ended, !cancellation.isCancelled {
            guard let first = frames.pop(), case .value(let head) = first else { return }
            var gathered = [head]
            let deadline = configuration.maxWaitMs.map { DispatchTime.now() + .microseconds(Int($0 * 1000)) }
            while gathered.count < configuration.batchSize {
                let next = deadline.map { frames.pop(until: $0) } ?? frames.pop()
                guard let next else { break }   // waited long enough, or cancelled
                guard case .value(let frame) = next else { ended = true; break }
                gathered.append(frame)
            }
            var (batch, ms) = try profiler.measure(.preprocess, batch: index, frames: gathered.count) { try prepare(gathered, index: index) }
            batch.timings.preprocessMs = ms
            guard batches.push(.value(batch)) else { return }
            index += 1
        }
    }

    private func prepare(_ gathered: [DecodedFrame], index: Int) throws -> PreparedBatch {
        var slots: [Int?] = []
        var pictures: [PictureInput] = []
        for item in gathered {
            if let picture = item.frame.picture {
                slots.append(pictures.count)
                pictures.append(picture)
            } else {
                slots.append(nil)
            }
        }
        var tensor: Tensor?
        var placements: [ImagePlacement] = []
        // A device lane preprocesses (and decodes JPEGs) on its device; the host only gathers.
        if !pictures.isEmpty, lanes.isEmpty, let preprocessor {
            let images = try pictures.map { try $0.hostImage() }
            let size = configuration.fixedModelBatch ?? images.count
            (tensor, placements) = try preprocessor.batch(images, size: size)
        }
        let timings = BatchTimings(decodeMs: gathered.reduce(0) { $0 + $1.decodeMs }, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, latencyMs: 0)
        return PreparedBatch(index: index, frames: gathered.map(\.frame), slots: slots, placements: placements, tensor: tensor,
                             pictures: lanes.isEmpty ? [] : pictures, timings: timings, firstFrameMs: gathered.map(\.startMs).min() ?? profiler.now())
    }

    /// Runs batches through one session until the preprocessing stage ends.
    func inferenceStage(_ session: any Session, lane: Int, from batches: BoundedQueue<Item<PreparedBatch>>,
                        into inferred: BoundedQueue<Item<InferredBatch>>) throws {
        defer { inferred.push(.end) }
        while let item = batches.pop(), case .value(var batch) = item {
            var outputs: [String: Tensor] = [:]
            if let tensor = batch.tensor {
                (outputs, batch.timings.inferenceMs) = try profiler.measure(.inference, lane: lane, batch: batch.index, frames: batch.placements.count) {
                    try session.run([inputName: tensor])
                }
                batch.tensor = nil   // the input's memory goes back before postprocessing
            }
            guard inferred.push(.value(InferredBatch(batch: batch, outputs: outputs))) else { return }
        }
    }

    /// Hands batches to one device lane: each is queued on the device and passed on at once, its
    /// detections waited for by the postprocessing stage, so the lane queues batch N+1 while the
    /// device still works on batch N.
    func laneStage(_ lane: any DetectionLane, index: Int, from batches: BoundedQueue<Item<PreparedBatch>>,
                   into inferred: BoundedQueue<Item<InferredBatch>>) throws {
        defer { inferred.push(.end) }
        while let item = batches.pop(), case .value(var batch) = item {
            var pending: (() throws -> LaneOutcome)?
            if !batch.pictures.isEmpty {
                // Host span: the pixels staged in pinned memory and the device work queued.
                let (submission, ms) = try profiler.measure(.preprocess, lane: index, batch: batch.index, frames: batch.pictures.count) { try lane.submit(batch.pictures) }
                batch.placements = submission.placements
                batch.timings.preprocessMs = ms
                pending = submission.wait
                batch.pictures = []
            }
            guard inferred.push(.value(InferredBatch(batch: batch, outputs: [:], pending: pending, lane: index, place: lane.place))) else { return }
        }
    }

    /// Puts batches back in order (several inference workers finish out of order), decodes and
    /// suppresses each as a whole, and hands the frames on.
    func postprocessStage(from inferred: BoundedQueue<Item<InferredBatch>>, into results: BoundedQueue<Item<BatchResult>>, cancellation: Cancellation) throws {
        defer { results.push(.end) }
        var waiting: [Int: InferredBatch] = [:]
        var next = 0
        var ends = 0
        while ends < workerCount, !cancellation.isCancelled {
            guard let item = inferred.pop() else { return }
            guard case .value(let done) = item else { ends += 1; continue }
            waiting[done.batch.index] = done
            while var ready = waiting.removeValue(forKey: next) {
                var laneOutcome: LaneOutcome?
                if let pending = ready.pending {
                    let outcome = try pending()
                    for span in outcome.deviceSpans {
                        profiler.record(Span(stage: span.stage, lane: ready.lane, batch: next, frames: ready.batch.placements.count,
                                             startMs: span.startMs, endMs: span.endMs, place: ready.place))
                        switch span.stage {
                        case .decode: ready.batch.timings.decodeMs += span.endMs - span.startMs
                        case .upload, .preprocess: ready.batch.timings.preprocessMs += span.endMs - span.startMs
                        case .inference: ready.batch.timings.inferenceMs += span.endMs - span.startMs
                        default: break
                        }
                    }
                    laneOutcome = outcome
                }
                var (result, ms) = try profiler.measure(.postprocess, batch: next, frames: ready.batch.frames.count) { try finish(ready, lane: laneOutcome) }
                result.timings.postprocessMs = ms + (laneOutcome?.deviceSpans.filter { $0.stage == .postprocess }.reduce(0) { $0 + $1.endMs - $1.startMs } ?? 0)
                guard results.push(.value(result)) else { return }
                next += 1
            }
        }
    }

    private func finish(_ done: InferredBatch, lane: LaneOutcome?) throws -> BatchResult {
        let perImage: [[Detection]]
        if let lane {
            perImage = lane.detections
        } else if done.batch.placements.isEmpty {
            perImage = []
        } else {
            guard let postprocessor else { throw PipelineError.badConfiguration("internal: host outputs without a postprocessor") }
            perImage = try postprocessor.detections(done.outputs, placements: done.batch.placements)
        }
        var frames: [FrameResult] = []
        for (frame, slot) in zip(done.batch.frames, done.batch.slots) {
            let detections = slot.map { perImage[$0] } ?? []
            frames.append(FrameResult(info: frame.info, detections: detections, image: configuration.keepImages ? frame.image : nil, error: frame.error))
        }
        return BatchResult(index: done.batch.index, frames: frames, timings: done.batch.timings, firstFrameMs: done.batch.firstFrameMs)
    }
}
