import ArgumentParser
import Detection
import FoundationEssentials
import Pipeline
import Tensors

/// `halfpipe detect MODEL SOURCE…`: a batched streaming detection pipeline from images, video
/// files, streams or cameras to boxes.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in images, videos and streams with a batched, overlapped pipeline.",
        discussion: """
            Sources are JPEG/PNG files or folders, video files (.avi, .mp4, .mkv, .mov, .webm …), \
            URIs (rtsp://, http://, file://), cameras (/dev/video0) and .npy arrays of uint8 \
            [N,H,W,3] frames; videos and streams are read through GStreamer. Decoding, \
            preprocessing, inference and postprocessing run on their own threads over bounded \
            queues. A model exported with a fixed batch of 1 is rewritten to take --batch frames \
            when its graph allows it (checked by running it). Detections go to standard output \
            as JSON lines (one per frame) unless -o names a file; the summary goes to standard error.
            With --device cuda (or cuda:all, one lane per GPU; --workers lanes per GPU) each batch's \
            pixels go to the GPU once: preprocessing, the CUDA engine and decode + NMS run there on \
            their own streams, batch N's NMS overlapping batch N+1's inference, and only the kept \
            boxes come back.
            Examples:
              halfpipe detect det.onnx vtest.avi --image-preset yolox416 -o boxes.jsonl --trace trace.json
              halfpipe detect det.onnx photos/ --image-preset yolo640 --annotate annotated/ --coco results.json
              halfpipe detect det.onnx rtsp://camera/stream --image-preset yolo640 --max-wait 30 --drop --profile
              halfpipe detect det.onnx frames/ --image-preset yolox416 --device cuda:all --batch 64 --preload --repeat 20 --report r.json
            """
    )

    @Argument(help: "The ONNX detector.")
    var model: String

    @Argument(help: "Images, folders, videos, URIs, cameras or .npy frame arrays.")
    var sources: [String] = []

    @Option(help: "Frames per batch (0: 1 on a CPU, where sessions side by side beat batches; 8 on a GPU).")
    var batch = 0

    @Option(name: .customLong("max-wait"), help: ArgumentHelp("Milliseconds a partial batch waits for more frames (default: until full; 40 for live sources).", valueName: "ms"))
    var maxWait: Double?

    @Option(help: "Inference sessions running batches side by side, each with --threads or its share of the cores (0: two on a CPU of two or more cores, where they beat one session's thread pool; one on a GPU).")
    var workers = 0

    @Option(help: ArgumentHelp("Head decoder (auto: recognised from the outputs).", valueName: "name"))
    var decoder = DecoderChoice.auto

    @Option(help: "Keep boxes scoring above this.")
    var score: Float = 0.25

    @Option(help: "NMS IoU threshold.")
    var iou: Float = 0.45

    @Option(name: .customLong("max-detections"), help: "At most this many boxes per frame.")
    var maxDetections = 300

    @Flag(name: .customLong("class-agnostic"), help: "Suppress overlapping boxes whatever their class.")
    var classAgnostic = false

    @Flag(inversion: .prefixedNo, help: "A box for every class scoring above --score at an anchor, not only its best class (Ultralytics' and PaddleDetection's multi_label). Default: as the model family's exporter does (on for GFL/PP-PicoDet heads, off for YOLO and YOLOX); decoded on the CPU.")
    var multiLabel: Bool?

    @Option(help: ArgumentHelp("Where boxes are decoded and suppressed: auto (on the GPU lane with --device cuda, else the CPU), cpu, or cuda[:N] (the whole batch in four kernels; YOLOX, YOLOv5/v8 and boxes+scores heads).", valueName: "device"))
    var postprocess = PostprocessPlace.auto

    @Flag(name: .customLong("check-postprocess"), help: "With --postprocess cuda, also run the CPU path on every batch and compare (exit 1 on a difference).")
    var checkPostprocess = false

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("JSON lines of detections, one per frame (default: standard output).", valueName: "file.jsonl"))
    var output: String?

    @Option(help: ArgumentHelp("Also write COCO results JSON (image_id, category_id, bbox, score).", valueName: "file.json"))
    var coco: String?

    @Option(help: ArgumentHelp("Draw the boxes: a folder for images, a video file (.avi, .mp4, .mkv) for videos.", valueName: "path"))
    var annotate: String?

    @Flag(help: "Print each batch's stage times (decode / preprocess / inference / postprocess).")
    var profile = false

    @Option(help: ArgumentHelp("Write the run's spans in Chrome trace format (open in Perfetto).", valueName: "trace.json"))
    var trace: String?

    @Option(help: ArgumentHelp("Write the run's summary as JSON.", valueName: "report.json"))
    var report: String?

    @Flag(help: "Drop frames of a live source when the pipeline is behind (counted) instead of waiting.")
    var drop = false

    @Option(help: "Queue depth between stages, in batches.")
    var queue = 2

    @Option(help: "Stop after this many frames.")
    var frames: Int?

    @Option(help: ArgumentHelp("Where JPEG files are decoded: auto (with nvJPEG on the GPU lane where the library loads, else on the CPU), cpu, or cuda. nvJPEG's pixels differ from libjpeg-turbo's on colour pictures (chroma upsampling), so boxes can differ slightly; use cpu for the CPU path's exact pixels.", valueName: "device"))
    var decode = DecodePlace.auto

    @Flag(help: "Read every frame into memory before the run, so the figures leave decoding out (benchmarks).")
    var preload = false

    @Option(name: .customLong("repeat"), help: "With --preload, serve the frames this many times.")
    var repeats: Int?

    @Flag(name: .customLong("allow-partial"), help: "Keep the results of a video that stops early (truncated, or a decoding error) and exit 0 with a warning; by default such a run writes nothing and exits 2.")
    var allowPartial = false

    @OptionGroup var imageFeed: ImageFeedOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard batch >= 0 else { throw ValidationError("--batch must be 0 (automatic) or more") }
        guard workers >= 0 else { throw ValidationError("--workers must be 0 (automatic) or more") }
        guard queue >= 1 else { throw ValidationError("--queue must be at least 1") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1") }
        guard sources.count + imageFeed.images.count > 0 else { throw ValidationError("give at least one source (images, a folder, a video, a URI or a camera)") }
        if let repeats, repeats < 1 { throw ValidationError("--repeat must be at least 1") }
        if repeats != nil && !preload { throw ValidationError("--repeat serves frames from memory; add --preload") }
        if checkPostprocess && (postprocess == .cpu || postprocess == .auto) { throw ValidationError("--check-postprocess compares a GPU postprocess with the CPU; add --postprocess cuda") }
    }

    func run() throws {
        let allSources = sources + imageFeed.images
        for path in [output, coco, trace, report].compactMap({ $0 }) + [annotate].compactMap({ $0 }) {
            if let clash = allSources.first(where: { OutputPath.same($0, path) }) ?? (OutputPath.same(path, model) ? model : nil) {
                throw CLIError("\(path) is an input (\(clash)); write outputs elsewhere (inputs are never overwritten)")
            }
        }
        for (option, path) in [("-o", output), ("--coco", coco), ("--trace", trace), ("--report", report), ("--annotate", annotate)] {
            if let path { try OutputPath.requireWritable(path, option: option) }
        }
        // An annotated video needs its encoder and muxer: checked now, not after the whole run.
        if let annotate { try DetectionSink.requireEncoder(annotating: annotate) }
        let setup = try setup()
        let opened = try SourceList.open(allSources, order: setup.preprocessor.spec.order, jpegsOnGPU: setup.decodesJPEGs)
        let limited: any FrameSource = frames.map { LimitedSource(opened, limit: $0) } ?? opened
        let source: any FrameSource = preload ? try PreloadedSource(limited, repeats: repeats ?? 1) : limited
        var configuration = PipelineConfiguration()
        configuration.batchSize = setup.batch
        configuration.maxWaitMs = maxWait ?? (source.isLive ? 40 : nil)
        configuration.queueDepth = queue
        configuration.dropWhenBehind = drop
        configuration.keepImages = annotate != nil
        let pipeline = try DetectionPipeline(source: source, lanes: setup.lanes, configuration: configuration)
        printStandardError("detect: \(setup.summary)")
        let sink = try DetectionSink(lines: output.map { .file($0) } ?? .standardOutput, coco: coco, annotate: annotate, names: setup.names, source: source)
        let progress = Progress(expected: source.expectedFrames)
        let result: PipelineReport
        do {
            result = try pipeline.run { batch in
                try sink.write(batch)
                if profile {
                    let t = batch.timings
                    printStandardError("batch \(batch.index) (\(batch.frames.count) frames): decode \(ms(t.decodeMs)) | preprocess \(ms(t.preprocessMs)) | "
                        + "inference \(ms(t.inferenceMs)) | postprocess \(ms(t.postprocessMs)) | latency \(ms(t.latencyMs))")
                }
                progress.advance(by: batch.frames.count, now: pipeline.profiler.now())
            }
        } catch {
            sink.abandon()
            throw error
        }
        if let stop = source.stoppedEarly {
            guard allowPartial else {
                sink.abandon()
                throw CLIError("\(stop); \(result.frames) frame\(result.frames == 1 ? "" : "s") read before it; nothing was written (give --allow-partial to keep them)")
            }
            printStandardError("detect: warning: \(stop); the results of the \(result.frames) frame\(result.frames == 1 ? "" : "s") before it are kept (--allow-partial)")
        }
        try sink.finish()
        if let trace { try FileBytes.writeAtomically(pipeline.profiler.chromeTrace(), to: trace) }
        let summary = RunSummary(report: result, batch: setup.batch, lanes: setup.lanes.count)
        printStandardError(summary.text)
        if let report { try FileBytes.writeAtomically(try summary.json, to: report) }
        if let (lines, agrees) = setup.postprocessReport() {
            lines.forEach(printStandardError)
            if !agrees { throw ExitCode(1) }
        }
        if result.failedFrames > 0 {
            throw CLIError("\(result.failedFrames) of \(result.frames) frames could not be read (their lines in the output say why)")
        }
    }

    private func ms(_ value: Double) -> String { NumberText.fixed(value, 1) + " ms" }
}

/// Progress on standard error every few seconds, for long inputs.
final class Progress {
    private let expected: Int?
    private var frames = 0
    private var lastMs = 0.0

    init(expected: Int?) { self.expected = expected }

    func advance(by count: Int, now: Double) {
        frames += count
        guard now - lastMs >= 3000 else { return }
        lastMs = now
        let rate = NumberText.fixed(Double(frames) / now * 1000, 1)
        printStandardError("detect: \(frames)\(expected.map { "/\($0)" } ?? "") frames, \(rate) fps")
    }
}
