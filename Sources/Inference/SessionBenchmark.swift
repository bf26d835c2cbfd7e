import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// A session's latency, measured as `bench` measures it: warm-up runs, then timed runs of plain
/// `runMeasured` calls (which also say where each run's time went), of a preprocessing step and a
/// run, or of an I/O binding's runs (no copies, no allocation).
public enum SessionBenchmark {
    /// What each timed run does.
    public enum Step {
        /// The session on `feeds`.
        case plain
        /// `input` made afresh by `make` (preprocessing), then the session on it and the other feeds.
        case preprocessed(input: String, make: () throws -> Tensor)
        /// The feeds bound once; each run reuses them and the pre-allocated outputs.
        case bound
    }

    /// - Parameters:
    ///   - batch: the batch the report counts when the first input is not among `feeds`.
    ///   - threads: recorded in the report (the session was made with them).
    public static func run(_ session: any Session, feeds: [String: Tensor], step kind: Step, warmup: Int, runs: Int, batch: Int, threads: Int,
                           model: String) throws -> BenchReport {
        var stages: [RunTimings] = []
        var preprocessing: [Double] = []
        let clock = ContinuousClock()
        let step: () throws -> Void
        switch kind {
        case .plain:
            step = { stages.append(try session.runMeasured(feeds).timings) }
        case .preprocessed(let input, let make):
            step = {
                var fed = feeds
                let start = clock.now
                fed[input] = try make()
                preprocessing.append((clock.now - start).milliseconds)
                stages.append(try session.runMeasured(fed).timings)
            }
        case .bound:
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
        for _ in 0..<runs { times.append(try clock.measure(step).milliseconds) }
        // Throughput counts the batch actually fed (a --shape or --inputs may set it, not only --batch).
        let fedBatch = session.inputs.first.flatMap { feeds[$0.name]?.shape.dimensions.first } ?? batch
        var report = BenchReport(model: model, batch: fedBatch, threads: threads, binding: { if case .bound = kind { true } else { false } }(),
                                 milliseconds: times, stages: stages)
        report.preprocessP50Ms = preprocessing.isEmpty ? nil : Percentiles.median(preprocessing)
        return report
    }
}

/// What a session benchmark measured; the JSON form of `bench`'s report.
public struct BenchReport: Codable, Sendable {
    public var model: String
    public var batch: Int
    public var threads: Int
    public var binding: Bool
    public var runs: Int
    public var meanMs: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var throughputPerSecond: Double
    public var peakMemoryMB: Int
    /// Median of each stage over the measured runs (plain runs only; a binding has no separate stages).
    public var stagesP50: RunTimings?
    /// Median preprocessing time per run, with --images.
    public var preprocessP50Ms: Double?

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
