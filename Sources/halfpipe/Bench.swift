import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import ONNXRuntime
import Tensors

/// `halfpipe bench MODEL`: latency percentiles, throughput and peak memory of one model.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's latency (p50/p90/p99), throughput and peak memory.",
        discussion: """
            Inputs are random (fixed seed) unless given; a symbolic batch dimension takes --batch.
            Examples:
              halfpipe bench model.onnx --batch 8 --threads 2
              halfpipe bench model.onnx --shape x=1x3x640x640 --runs 200 --json
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
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard batch >= 1, runs >= 1, warmup >= 0 else { throw ValidationError("--batch and --runs must be ≥ 1, --warmup ≥ 0") }
    }

    func run() throws {
        let session = try ORTSession(contentsOf: model, options: try runtime.sessionOptions())
        let feeds = try feed.feeds(for: session.inputs, batch: batch, forceRandom: true)
        // Plain runs also record where each run's time goes (inputs / inference / outputs).
        var stages: [ORTSession.RunTimings] = []
        var step: () throws -> Void = { stages.append(try session.runMeasured(feeds).timings) }
        if binding {
            // One plain run tells the output shapes to pre-allocate.
            let shapes = try session.run(feeds).mapValues(\.shape)
            let bound = try ORTIOBinding(session: session, inputs: feeds, outputShapes: shapes)
            step = { try bound.run() }
        }
        for _ in 0..<warmup { try step() }
        stages.removeAll()
        let clock = ContinuousClock()
        var times: [Double] = []
        times.reserveCapacity(runs)
        for _ in 0..<runs {
            let d = try clock.measure(step)
            times.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
        }
        // Throughput counts the batch actually fed (a --shape or --inputs may set it, not only --batch).
        let fedBatch = session.inputs.first.flatMap { feeds[$0.name]?.shape.dimensions.first } ?? batch
        let report = BenchReport(model: model, batch: fedBatch, threads: runtime.threads, binding: binding, milliseconds: times, stages: stages)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("inference: \(format(report.p50Ms)) ms p50, \(format(report.p90Ms)) p90, \(format(report.p99Ms)) p99 (\(runs) runs after \(warmup) warm-up)")
            if let s = report.stagesP50 {
                print("per run (p50): inputs \(format(s.inputsMs)) ms, inference \(format(s.inferenceMs)) ms, outputs \(format(s.outputsMs)) ms")
            }
            print("throughput: \(format(report.throughputPerSecond)) items/s at batch \(report.batch); peak memory \(report.peakMemoryMB) MB")
        }
    }

    private func format(_ v: Double) -> String { String(Double((v * 100).rounded()) / 100) }
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
    var stagesP50: ORTSession.RunTimings?

    init(model: String, batch: Int, threads: Int, binding: Bool, milliseconds: [Double], stages: [ORTSession.RunTimings]) {
        let sorted = milliseconds.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))] }
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
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        stagesP50 = stages.isEmpty ? nil : ORTSession.RunTimings(
            inputsMs: median(stages.map(\.inputsMs)), inferenceMs: median(stages.map(\.inferenceMs)), outputsMs: median(stages.map(\.outputsMs)))
    }
}
