import ArgumentParser
import FoundationEssentials
import Inference
import Tensors

/// `halfpipe bench MODEL`: latency percentiles, throughput and peak memory of one model.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's latency (p50/p90/p99), throughput and peak memory.",
        discussion: """
            Inputs are random (fixed seed) unless given; a symbolic batch dimension takes --batch. \
            With --images, every run preprocesses the decoded images into the batch first, and the \
            per-run line shows that stage too.
            Examples:
              halfpipe bench model.onnx --batch 8 --threads 2
              halfpipe bench model.onnx --shape x=1x3x640x640 --runs 200 --json
              halfpipe bench det.onnx --images photos/ --image-preset yolo640
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Batch size for a symbolic first dimension.")
    var batch = 1

    @Option(help: "Unmeasured runs first.")
    var warmup = 10

    @Option(help: "Measured runs.")
    var runs = 100

    @Flag(help: "Run through an I/O binding (outputs pre-allocated once, no copies per run).")
    var binding = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var feed: FeedOptions
    @OptionGroup var imageFeed: ImageFeedOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard batch >= 1, runs >= 1, warmup >= 0 else { throw ValidationError("--batch and --runs must be ≥ 1, --warmup ≥ 0") }
    }

    func run() throws {
        let session = try runtime.target().session(.file(model))
        let images = imageFeed.given ? try imageFeed.prepare(for: session.inputs, model: model) : nil
        var feeds = try feed.feeds(for: session.inputs.filter { $0.name != images?.name }, batch: images?.batchSize ?? batch, forceRandom: true)
        if let images { feeds[images.name] = try images.tensor() }
        // Plain runs also record where each run's time goes (preprocess / inputs / inference / outputs).
        var step = SessionBenchmark.Step.plain
        if let images { step = .preprocessed(input: images.name, make: images.tensor) }
        if binding {
            guard images == nil else { throw CLIError("--binding binds fixed inputs; it cannot be combined with --images") }
            step = .bound
        }
        let report = try SessionBenchmark.run(session, feeds: feeds, step: step, warmup: warmup, runs: runs, batch: batch, threads: runtime.threads, model: model)
        if json {
            print(try ReportJSON.line(report))
        } else {
            print("\(images == nil ? "inference" : "preprocess + inference"): \(format(report.p50Ms)) ms p50, \(format(report.p90Ms)) p90, \(format(report.p99Ms)) p99 (\(runs) runs after \(warmup) warm-up)")
            if let images { print(images.summary) }
            if let s = report.stagesP50 {
                let pre = report.preprocessP50Ms.map { "preprocess \(format($0)) ms, " } ?? ""
                print("per run (p50): \(pre)inputs \(format(s.inputsMs)) ms, inference \(format(s.inferenceMs)) ms, outputs \(format(s.outputsMs)) ms")
            }
            print("throughput: \(format(report.throughputPerSecond)) items/s at batch \(report.batch); peak memory \(report.peakMemoryMB) MB")
        }
    }

    private func format(_ v: Double) -> String { NumberText.fixed(v, 2) }
}
