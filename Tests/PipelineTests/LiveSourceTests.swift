import Detection
import Dispatch
import Foundation
import Imaging
import Inference
import Pipeline
import Tensors
import TestSupport
import Testing

/// A stand-in for a detector that takes `delay` per batch and finds nothing: the pipeline's
/// batching, dropping and ordering are what these tests look at.
private final class SlowSession: Session {
    let delay: Double
    init(delay: Double) { self.delay = delay }
    var inputs: [TensorDescription] { [TensorDescription(name: "images", elementType: .float32, dimensions: [nil, 3, 416, 416], symbols: ["batch", nil, nil, nil])] }
    var outputs: [TensorDescription] { [TensorDescription(name: "output", elementType: .float32, dimensions: [nil, 3549, 6], symbols: ["batch", nil, nil])] }
    var device: Device { .cpu }
    var source: String { "slow" }
    func runMeasured(_ inputs: [String: Tensor], outputNames: [String]?) throws -> (outputs: [String: Tensor], timings: RunTimings) {
        Thread.sleep(forTimeInterval: delay)
        let batch = inputs["images"]!.shape[0]
        return (["output": try Tensor(dtype: .float32, shape: [batch, 3549, 6])], RunTimings(inputsMs: 0, inferenceMs: delay * 1000, outputsMs: 0))
    }
    func run(values: [String: SessionValue], outputNames: [String]?) throws -> [String: SessionValue] { throw PipelineError.badModel("not used") }
    func bind(inputs: [String: Tensor], outputShapes: [String: Shape]) throws -> any BoundRun { throw PipelineError.badModel("not used") }
}

/// Frames of a camera: `count` of them, one every `interval` seconds, sizes alternating when asked.
private final class CameraSource: FrameSource {
    let count: Int, interval: Double, changingSize: Bool
    var given = 0
    init(count: Int, interval: Double, changingSize: Bool = false) {
        self.count = count
        self.interval = interval
        self.changingSize = changingSize
    }
    var name: String { "camera" }
    var isLive: Bool { true }
    var expectedFrames: Int? { nil }
    func next(index: Int) throws -> SourceFrame? {
        guard given < count else { return nil }
        if interval > 0 { Thread.sleep(forTimeInterval: interval) }
        let (w, h) = changingSize && given % 3 == 2 ? (96, 40) : (64, 48)
        let image = try Image(pixels: try Tensor(dtype: .uint8, shape: [h, w, 3]), order: .rgb)
        defer { given += 1 }
        return SourceFrame(info: FrameInfo(index: index, source: name, sourceFrame: given, timestamp: Double(given) * interval, width: w, height: h), image: image)
    }
}

@Suite struct LiveSourceTests {
    private func pipeline(_ source: any FrameSource, _ configure: (inout PipelineConfiguration) -> Void, delay: Double) throws -> DetectionPipeline {
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        var configuration = PipelineConfiguration()
        configure(&configuration)
        let lane = try HostDetectionLane(session: SlowSession(delay: delay), inputName: "images", preprocessor: try Preprocessor(spec: PreprocessSpec.preset(named: "yolox416")!),
                                         postprocessor: CPUPostprocessing(try Postprocessor(decoder: decoder, nms: NonMaximumSuppression())), batchSize: configuration.batchSize)
        return try DetectionPipeline(source: source, lanes: [lane], configuration: configuration)
    }

    /// A camera faster than inference, with --drop: frames are shed and counted, never lost from the
    /// books; what is kept comes out in order.
    @Test func dropsAndCountsWhatALiveSourceOverruns() throws {
        let p = try pipeline(CameraSource(count: 120, interval: 0.001), { $0.batchSize = 1; $0.queueDepth = 1; $0.dropWhenBehind = true }, delay: 0.02)
        var indices: [Int] = []
        let report = try p.run { indices += $0.frames.map(\.info.index) }
        #expect(report.droppedFrames > 0)
        #expect(report.frames + report.droppedFrames == 120)
        #expect(indices == Array(0..<report.frames), "kept frames are numbered in order with no gaps")
    }

    /// Without --drop the same camera waits: every frame is detected.
    @Test func waitsInsteadWhenNotDropping() throws {
        let p = try pipeline(CameraSource(count: 30, interval: 0.001), { $0.batchSize = 2; $0.queueDepth = 1 }, delay: 0.01)
        let report = try p.run { _ in }
        #expect(report.frames == 30 && report.droppedFrames == 0)
    }

    /// A slow camera with --max-wait: batches go partial instead of waiting for four frames; frame
    /// sizes changing mid-stream each map back to their own size.
    @Test func partialBatchesGoAfterMaxWaitAndSizesMayChange() throws {
        // Batches of 8 that wait at most 5 ms, for frames 50 ms apart: filling them would give two
        // batches; going on time gives about nine (at least three even on a machine that stalls).
        let p = try pipeline(CameraSource(count: 9, interval: 0.05, changingSize: true), { $0.batchSize = 8; $0.maxWaitMs = 5 }, delay: 0.001)
        var sizes: [Int] = []
        var widths: [Int] = []
        let report = try p.run { batch in
            sizes.append(batch.frames.count)
            widths += batch.frames.map(\.info.width)
        }
        #expect(report.frames == 9)
        #expect(sizes.count >= 3 && sizes.max()! < 8, "batches did not wait to fill: \(sizes)")
        #expect(widths == [64, 64, 96, 64, 64, 96, 64, 64, 96])
    }

    /// A sink that fails stops every stage, and the failure comes back to the caller.
    @Test func aFailingSinkStopsThePipeline() throws {
        struct Full: Error {}
        let p = try pipeline(CameraSource(count: 1000, interval: 0), { $0.batchSize = 2 }, delay: 0.001)
        var batches = 0
        #expect(throws: Full.self) {
            try p.run { _ in
                batches += 1
                if batches == 3 { throw Full() }
            }
        }
        #expect(batches == 3)
    }
}
