import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
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
        let images = imageFeed.given ? try imageFeed.prepare(for: session.inputs) : nil
        var feeds = try feed.feeds(for: session.inputs.filter { $0.name != images?.name }, batch: images?.batchSize ?? batch, forceRandom: true)
        if let images { feeds[images.name] = try images.tensor() }
        // Plain runs also record where each run's time goes (preprocess / inputs / inference / outputs).
        var stages: [RunTimings] = []
        var preprocessing: [Double] = []
        let clock = ContinuousClock()
        var step: () throws -> Void = { stages.append(try session.runMeasured(feeds).timings) }
        if let images {
            step = {
                var fed = feeds
                let start = clock.now
                fed[images.name] = try images.tensor()
                preprocessing.append((clock.now - start).milliseconds)
                stages.append(try session.runMeasured(fed).timings)
            }
        }
        if binding {
            guard images == nil else { throw CLIError("--binding binds fixed inputs; it cannot be combined with --images") }
            // One plain run tells the output shapes to pre-allocate.
            let shapes = try session.run(feeds).mapValues(\.shape)
            let bound = try session.bind(inputs: feeds, outputShapes: shapes)
            step = { try bound.run() }
        }
        for _ in 0..<warmup { try step() }
        stages.removeAll()
        preprocessing.removeAll()
        var times: [Double] = []
        times.reserveCapacity(runs)
        for _ in 0..<runs {
            let d = try clock.measure(step)
            times.append(d.milliseconds)
        }
        // Throughput counts the batch actually fed (a --shape or --inputs may set it, not only --batch).
        let fedBatch = session.inputs.first.flatMap { feeds[$0.name]?.shape.dimensions.first } ?? batch
        var report = BenchReport(model: model, batch: fedBatch, threads: runtime.threads, binding: binding, milliseconds: times, stages: stages)
        report.preprocessP50Ms = preprocessing.isEmpty ? nil : Percentiles.median(preprocessing)
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

/// What `bench` measured; the JSON form of its report.
struct BenchReport: Codable {
    var model: String
    var batch: Int
    var threads: Int
    var binding: Bool
    var runs: Int
    var meanMs: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var throughputPerSecond: Double
    var peakMemoryMB: Int
    /// Median of each stage over the measured runs (plain runs only; a binding has no separate stages).
    var stagesP50: RunTimings?
    /// Median preprocessing time per run, with --images.
    var preprocessP50Ms: Double?

    init(model: String, batch: Int, threads: Int, binding: Bool, milliseconds: [Double], stages: [RunTimings]) {
        let sorted = milliseconds.sorted()
        func percentile(_ p: Double) -> Double { Percentiles.value(p, ofSorted: sorted) }
        self.model = model
        self.batch = batch
        self.threads = threads
        self.binding = binding
        runs = sorted.count
        meanMs = sorted.reduce(0, +) / Double(sorted.count)
        p50Ms = percentile(0.5)
        p90Ms = percentile(0.9)
        p99Ms = percentile(0.99)
        throughputPerSecond = Double(batch) * 1000 / meanMs
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        peakMemoryMB = Int(usage.ru_maxrss) / 1024  // Linux reports kilobytes
        stagesP50 = RunTimings.median(stages)
    }
}
