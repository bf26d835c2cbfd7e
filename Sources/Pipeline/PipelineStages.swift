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

    /// Gathers frames into batches (a partial one goes after `maxWaitMs`, or at the end); the
    /// lanes preprocess them.
    func batchStage(from frames: BoundedQueue<Item<DecodedFrame>>, into batches: BoundedQueue<Item<GatheredBatch>>, cancellation: Cancellation) throws {
        defer { for _ in lanes { batches.push(.end) } }
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
            guard batches.push(.value(gather(gathered, index: index))) else { return }
            index += 1
        }
    }

    private func gather(_ gathered: [DecodedFrame], index: Int) -> GatheredBatch {
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
        let timings = BatchTimings(decodeMs: gathered.reduce(0) { $0 + $1.decodeMs }, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, latencyMs: 0)
        return GatheredBatch(index: index, frames: gathered.map(\.frame), slots: slots, pictures: pictures, timings: timings,
                             firstFrameMs: gathered.map(\.startMs).min() ?? profiler.now())
    }

    /// Hands batches to one lane: each is submitted and passed on at once, its detections waited
    /// for by the reorder stage, so a device lane queues batch N+1 while the device still works on
    /// batch N (a host lane has done its inference by then).
    func laneStage(_ lane: any DetectionLane, index: Int, from batches: BoundedQueue<Item<GatheredBatch>>,
                   into submitted: BoundedQueue<Item<SubmittedBatch>>) throws {
        defer { submitted.push(.end) }
        while let item = batches.pop(), case .value(var batch) = item {
            var pending: (() throws -> LaneOutcome)?
            if !batch.pictures.isEmpty {
                let submission = try lane.submit(batch.pictures)
                for span in submission.hostSpans {
                    profiler.record(Span(stage: span.stage, lane: index, batch: batch.index, frames: batch.pictures.count, startMs: span.startMs, endMs: span.endMs))
                    batch.timings.add(span)
                }
                batch.placements = submission.placements
                pending = submission.wait
                batch.pictures = []
            }
            guard submitted.push(.value(SubmittedBatch(batch: batch, pending: pending, lane: index, place: lane.place))) else { return }
        }
    }

    /// Puts batches back in order (lanes finish out of order), waits for each one's detections,
    /// and hands the frames on.
    func reorderStage(from submitted: BoundedQueue<Item<SubmittedBatch>>, into results: BoundedQueue<Item<BatchResult>>, cancellation: Cancellation) throws {
        defer { results.push(.end) }
        var waiting: [Int: SubmittedBatch] = [:]
        var next = 0
        var ends = 0
        while ends < lanes.count, !cancellation.isCancelled {
            guard let item = submitted.pop() else { return }
            guard case .value(let done) = item else { ends += 1; continue }
            waiting[done.batch.index] = done
            while var ready = waiting.removeValue(forKey: next) {
                var outcome = LaneOutcome(detections: [], deviceSpans: [], hostMs: 0)
                if let pending = ready.pending {
                    outcome = try pending()
                    for span in outcome.hostSpans {
                        profiler.record(Span(stage: span.stage, lane: ready.lane, batch: next, frames: ready.batch.placements.count,
                                             startMs: span.startMs, endMs: span.endMs))
                        ready.batch.timings.add(span)
                    }
                    for span in outcome.deviceSpans {
                        profiler.record(Span(stage: span.stage, lane: ready.lane, batch: next, frames: ready.batch.placements.count,
                                             startMs: span.startMs, endMs: span.endMs, place: ready.place))
                        ready.batch.timings.add(span)
                    }
                }
                // The host's postprocessing: the lane's own (decode and NMS, or reading a device's
                // results), then the frames' results.
                let begin = profiler.now()
                var result = finish(ready, detections: outcome.detections)
                let end = profiler.now()
                let start = begin - outcome.hostMs
                profiler.record(Span(stage: .postprocess, lane: 0, batch: next, frames: ready.batch.frames.count, startMs: start, endMs: end))
                result.timings.postprocessMs += end - start
                guard results.push(.value(result)) else { return }
                next += 1
            }
        }
    }

    private func finish(_ done: SubmittedBatch, detections perImage: [[Detection]]) -> BatchResult {
        var frames: [FrameResult] = []
        for (frame, slot) in zip(done.batch.frames, done.batch.slots) {
            let detections = slot.map { perImage[$0] } ?? []
            frames.append(FrameResult(info: frame.info, detections: detections, image: configuration.keepImages ? frame.image : nil, error: frame.error))
        }
        return BatchResult(index: done.batch.index, frames: frames, timings: done.batch.timings, firstFrameMs: done.batch.firstFrameMs)
    }
}

extension BatchTimings {
    /// Adds a span's time to its stage's figure (uploads count as preprocessing).
    mutating func add(_ span: LaneSpan) {
        let ms = span.endMs - span.startMs
        switch span.stage {
        case .decode: decodeMs += ms
        case .upload, .preprocess: preprocessMs += ms
        case .inference: inferenceMs += ms
        case .postprocess: postprocessMs += ms
        case .sink: break
        }
    }
}
