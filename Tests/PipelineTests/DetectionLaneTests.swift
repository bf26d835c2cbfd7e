import Detection
import Dispatch
import Foundation
import Imaging
import Inference
import ONNX
import ONNXRuntime
import Pipeline
import Synchronization
import Tensors
import TestSupport
import Testing

/// A lane that does on a background queue what a GPU lane does on its streams: work queued at
/// `submit`, at most `depth` batches in flight, results and "device" spans at `wait`. It runs the
/// real detector through ONNX Runtime, so the lane path of the pipeline is checked here, without
/// a GPU, against the session path on the same pictures.
final class QueuedHostLane: DetectionLane, @unchecked Sendable {
    let place: String
    let batchSize: Int
    let session: any Session
    let preprocessor: Preprocessor
    let postprocessor: Postprocessor
    let queue: DispatchQueue
    let slots: DispatchSemaphore
    let failOnBatch: Int?
    private let submitted = Atomic<Int>(0)
    let peakInFlight = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)
    private var clock: @Sendable () -> Double = { 0 }
    private var cancelled: @Sendable () -> Bool = { false }

    init(place: String, session: any Session, preprocessor: Preprocessor, postprocessor: Postprocessor, batchSize: Int, depth: Int = 2, failOnBatch: Int? = nil) {
        self.place = place
        self.session = session
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.batchSize = batchSize
        queue = DispatchQueue(label: "lane.\(place)")
        // From 0, signalled up: libdispatch traps when a semaphore dies below its initial value.
        slots = DispatchSemaphore(value: 0)
        for _ in 0..<depth { slots.signal() }
        self.failOnBatch = failOnBatch
    }

    func start(clock: @escaping @Sendable () -> Double, cancelled: @escaping @Sendable () -> Bool) throws {
        self.clock = clock
        self.cancelled = cancelled
    }

    func submit(_ pictures: [PictureInput]) throws -> LaneSubmission {
        let images = try pictures.map { try $0.hostImage() }
        // As every lane must: a run stopped by another lane's failure never collects this lane's
        // batches in flight, so a plain wait here would hang the run (it did, on CI).
        try slots.waitForSlot(unless: cancelled)
        let number = submitted.add(1, ordering: .relaxed).newValue - 1
        let now = inFlight.add(1, ordering: .relaxed).newValue
        peakInFlight.max(now, ordering: .relaxed)
        let (tensor, placements) = try preprocessor.batch(images, size: batchSize)
        let result = Mutex<Result<LaneOutcome, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let me = self
        queue.async {
            let start = me.clock()
            let outcome = Result { () throws -> LaneOutcome in
                if number == me.failOnBatch { throw PipelineError.badModel("the device failed on batch \(number)") }
                let outputs = try me.session.run(["images": tensor])
                let middle = me.clock()
                let detections = try me.postprocessor(outputs, placements: placements)
                let end = me.clock()
                return LaneOutcome(detections: detections, deviceSpans: [(.inference, start, middle), (.postprocess, middle, end)], hostMs: 0)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        return LaneSubmission(placements: placements, hostSpans: []) {
            done.wait()
            defer { me.inFlight.subtract(1, ordering: .relaxed); me.slots.signal() }
            return try result.withLock { $0! }.get()
        }
    }
}

@Suite(.serialized) struct DetectionLaneTests {
    static func lanes(count: Int, batch: Int, failOnBatch: Int? = nil) throws -> [QueuedHostLane] {
        let target = ExecutionTarget(backend: ORTBackend())
        let model = try Model.load(contentsOf: try TestMaterial.path("models/ddddocr/common_det.onnx"))
        let (bytes, _) = try BatchRewrite.rewrite(model, input: "images") { try target.session($0) }
        let preprocessor = try Preprocessor(spec: PreprocessSpec.preset(named: "yolox416")!)
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        let post = try Postprocessor(decoder: decoder, scoreThreshold: 0.1, nms: NonMaximumSuppression(iouThreshold: 0.45), mapping: .letterboxGain)
        return try (0..<count).map { i in
            QueuedHostLane(place: "host:\(i)", session: try target.session(.bytes(try #require(bytes), name: "batched")), preprocessor: preprocessor,
                           postprocessor: post, batchSize: batch, failOnBatch: failOnBatch)
        }
    }

    /// Two lanes, batches of 3 padded to the lanes' 4, the last one partial: the same detections
    /// as the session path on the same real pictures, in order, with the lanes' spans on their
    /// own trace tracks.
    @Test func lanesGiveTheSessionPathsDetectionsInOrder() throws {
        let files = try DetectionPipelineTests.pictures()
        let (reference, _) = try DetectionPipelineTests.pipeline(ImageFileSource(files: files, order: .bgr))
        var expected: [FrameResult] = []
        _ = try reference.run { expected += $0.frames }

        let lanes = try Self.lanes(count: 2, batch: 4)
        var configuration = PipelineConfiguration()
        configuration.batchSize = 3
        let pipeline = try DetectionPipeline(source: ImageFileSource(files: files, order: .bgr), lanes: lanes, configuration: configuration)
        var results: [FrameResult] = []
        var batches: [BatchResult] = []
        let report = try pipeline.run { batches.append($0); results += $0.frames }
        #expect(report.frames == files.count && report.batches == 4 && batches.map(\.index) == [0, 1, 2, 3])
        #expect(results.map(\.info.index) == Array(0..<files.count) && results.map(\.info.source) == files)
        var boxes = 0
        for (ours, theirs) in zip(results, expected) {
            #expect(ours.detections.count == theirs.detections.count, "\(ours.info.source)")
            for (a, b) in zip(ours.detections, theirs.detections) {
                #expect(a.classIndex == b.classIndex && a.box.iou(b.box) >= 0.999 && abs(a.score - b.score) < 1e-4)
                boxes += 1
            }
        }
        #expect(boxes >= 25)
        // Both lanes worked; the device spans are on the lanes' places, and timings came from them.
        let spans = pipeline.profiler.recorded
        #expect(Set(spans.filter { $0.place != "" }.map(\.place)) == ["host:0", "host:1"])
        #expect(spans.filter { $0.place != "" && $0.stage == .inference }.count == 4)
        #expect(batches.allSatisfy { $0.timings.inferenceMs > 0 })
        #expect(report.stages.contains { $0.place == "host:1" && $0.stage == .postprocess })
        let trace = String(decoding: pipeline.profiler.chromeTrace(), as: UTF8.self)
        #expect(trace.firstRange(of: "host:1 lane 1 inference") != nil)
        _ = try JSONSerialization.jsonObject(with: Data(trace.utf8))
    }

    /// JPEG files left compressed for a lane (its device decodes them): their sizes come from the
    /// headers, the other pictures are decoded, and the detections are the session path's.
    @Test func jpegsStayCompressedForLanesAndGiveTheSameDetections() throws {
        let files = try DetectionPipelineTests.pictures()
        let source = ImageFileSource(files: files, order: .bgr, jpegsStayEncoded: true)
        var frames: [SourceFrame] = []
        while let f = try source.next(index: frames.count) { frames.append(f) }
        let jpegs = frames.filter { $0.jpeg != nil }
        #expect(jpegs.count == files.filter { $0.hasSuffix(".jpg") }.count && jpegs.count >= 3)
        for frame in jpegs {
            let decoded = try ImageDecoder(order: .bgr).decode(file: frame.info.source)
            #expect(frame.image == nil && frame.info.width == decoded.width && frame.info.height == decoded.height)
        }
        let (reference, _) = try DetectionPipelineTests.pipeline(ImageFileSource(files: files, order: .bgr))
        var expected: [FrameResult] = []
        _ = try reference.run { expected += $0.frames }
        var configuration = PipelineConfiguration()
        configuration.batchSize = 4
        let pipeline = try DetectionPipeline(source: ImageFileSource(files: files, order: .bgr, jpegsStayEncoded: true), lanes: try Self.lanes(count: 1, batch: 4),
                                             configuration: configuration)
        var results: [FrameResult] = []
        _ = try pipeline.run { results += $0.frames }
        #expect(results.map(\.info.source) == files)
        for (ours, theirs) in zip(results, expected) {
            #expect(ours.detections.count == theirs.detections.count && zip(ours.detections, theirs.detections).allSatisfy { $0.box.iou($1.box) >= 0.999 })
        }
        // The session path decodes such frames on the host.
        let (hosted, _) = try DetectionPipelineTests.pipeline(ImageFileSource(files: files, order: .bgr, jpegsStayEncoded: true))
        var onHost: [FrameResult] = []
        _ = try hosted.run { onHost += $0.frames }
        #expect(onHost.map(\.detections.count) == expected.map(\.detections.count))
    }

    /// One lane with two slots: batch N+1 is queued while batch N is still in flight.
    @Test func aLaneHasBatchesInFlightTogether() throws {
        let files = try DetectionPipelineTests.pictures()
        let lanes = try Self.lanes(count: 1, batch: 2)
        var configuration = PipelineConfiguration()
        configuration.batchSize = 2
        let pipeline = try DetectionPipeline(source: PreloadedSource(ImageFileSource(files: files, order: .bgr), repeats: 2), lanes: lanes, configuration: configuration)
        let report = try pipeline.run { _ in }
        #expect(report.frames == 2 * files.count && report.batches == files.count)
        #expect(lanes[0].peakInFlight.load(ordering: .relaxed) == 2)
    }

    /// A lane failing mid-run stops the pipeline with its error; no thread is left waiting.
    @Test func aFailingLaneStopsTheRun() throws {
        let files = try DetectionPipelineTests.pictures()
        let lanes = try Self.lanes(count: 2, batch: 2, failOnBatch: 1)
        var configuration = PipelineConfiguration()
        configuration.batchSize = 2
        let pipeline = try DetectionPipeline(source: ImageFileSource(files: files, order: .bgr), lanes: lanes, configuration: configuration)
        #expect { try pipeline.run { _ in } } throws: { "\($0)".firstRange(of: "the device failed on batch 1") != nil }
    }

    @Test func lanesThatTakeSmallerBatchesAreRefused() throws {
        let lanes = try Self.lanes(count: 1, batch: 2)
        var configuration = PipelineConfiguration()
        configuration.batchSize = 4
        #expect { try DetectionPipeline(source: ArraySource(files: []), lanes: lanes, configuration: configuration) } throws: {
            "\($0)".firstRange(of: "takes batches of 2") != nil
        }
    }

    /// Frames read once, served again with run-wide indices that keep counting.
    @Test func preloadedFramesRepeatWithTheirSourceNumbers() throws {
        let files = Array(try DetectionPipelineTests.pictures().prefix(3))
        let source = try PreloadedSource(ImageFileSource(files: files, order: .rgb), repeats: 3)
        #expect(source.expectedFrames == 9)
        var frames: [SourceFrame] = []
        while let f = try source.next(index: frames.count) { frames.append(f) }
        #expect(frames.map(\.info.index) == Array(0..<9))
        #expect(frames.map(\.info.source) == files + files + files)
        #expect(frames[4].image?.width == frames[1].image?.width)
        #expect { try PreloadedSource(ImageFileSource(files: files), repeats: 0) } throws: { "\($0)".firstRange(of: "at least once") != nil }
    }
}
