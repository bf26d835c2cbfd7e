import FoundationEssentials
import Inference
import ONNX
import Tensors

/// The whole of `halfpipe convert` as one job: load → fold inputs → prepare (BatchNorm, constant
/// Casts) → measure ranges → decide (range analysis, the backend's `supports`) → convert → probe
/// (the backend loads, and where only a run can tell, runs the result once; nodes it refuses go
/// back to float32) → validate → save → check against float32. The command line only maps options
/// onto this; quantization and mixed precision reuse its steps.
public struct ConversionJob {
    public var options: ConversionOptions
    /// `--input-uint8-nhwc` rewrites, applied right after loading.
    public var inputFolds: [InputFolding] = []
    /// Inputs for range analysis and the check.
    public var feeds: Feeds?
    /// |x| above which range analysis keeps a node in float32 (default: 8192 for float16).
    public var rangeThreshold: Double?
    /// Compare the result with float32 under this gate.
    public var check: Check?
    /// Automatic mixed precision (`--to mixed`): keep in float32 the fewest nodes that bring the
    /// outputs within these bounds on the first batch (`MixedPrecisionSearch`).
    public var mixed: (maxRelativeL2: Double, elementwise: ComparisonTolerance?)?
    /// Always load the result in the backend (`--load-check`), not only when a node needs it.
    public var loadCheck = false
    /// Run the result once in the backend before reporting success (on the given inputs, else on
    /// random ones the float32 model runs on), sending each node it refuses back to float32 until it
    /// runs; a result that cannot be made to run is not written. False (`--no-run-check`) only
    /// loads it where a node needs that.
    public var runCheck = true
    /// Sizes for inputs with symbolic dimensions (`--shape`), for the run check's random inputs.
    public var inputShapes: [String: [Int]] = [:]
    /// The backend the converted model must run on, its device and session options.
    public var runtime: ExecutionTarget
    public var externalData: ExternalDataPolicy = .automatic
    /// Ask the backend what it runs (`supports`) and keep what it refuses in float32; false converts
    /// for another runtime (a bfloat16 model for GPUs: ONNX Runtime's CPU provider has few bfloat16 kernels).
    public var respectsBackendLimits = true

    /// Where the inputs come from: `make` gets the prepared float32 model's inputs and returns the
    /// batches one at a time (nil ends them), so range analysis streams them and only the first is
    /// kept (for the check and the probe run). With `measuresRanges` false they only feed those.
    public struct Feeds {
        public var source: String
        public var measuresRanges: Bool
        public var make: ([TensorDescription]) throws -> () throws -> [String: Tensor]?

        /// Batches handed out one at a time.
        public init(source: String, measuresRanges: Bool, make: @escaping ([TensorDescription]) throws -> () throws -> [String: Tensor]?) {
            self.source = source
            self.measuresRanges = measuresRanges
            self.make = make
        }

        /// Batches made all at once (a single feed, say).
        public init(source: String, measuresRanges: Bool, batches: @escaping ([TensorDescription]) throws -> [[String: Tensor]]) {
            self.source = source
            self.measuresRanges = measuresRanges
            make = { inputs in
                var remaining = try batches(inputs)[...]
                return { remaining.popFirst() }
            }
        }
    }

    public struct Check: Sendable {
        public var gate: AccuracyGate
        public var tolerance: ComparisonTolerance
        public init(gate: AccuracyGate, tolerance: ComparisonTolerance) {
            self.gate = gate
            self.tolerance = tolerance
        }
    }

    public init(options: ConversionOptions, runtime: ExecutionTarget) {
        self.options = options
        self.runtime = runtime
    }

    /// Converts the model at `input` and writes it to `output` (atomically, only once valid). The
    /// check against float32, when asked, is `check(_:)`'s: the report exists whatever it finds.
    public func run(input: String, output: String) throws -> ConversionOutcome {
        var clock = StageTimes()
        let model = try Model.load(contentsOf: input)
        clock.lap("load")
        let declared = Set(model.graph.inputs.map(\.name)).subtracting(model.graph.initializers.map(\.name))
        if let unknown = inputShapes.keys.sorted().first(where: { !declared.contains($0) }) {
            throw PrecisionError.badOption("--shape \(unknown)=…: the model has no input '\(unknown)' (inputs: \(declared.sorted().joined(separator: ", ")))")
        }
        var notes = try inputFolds.map { try "note: \($0.apply(to: model))" }
        var options = self.options

        // The backend's word before converting: refused nodes stay float32; nodes only a run can
        // judge need the float32 model kept for a probe. The node-level filter decides whether to
        // ask at all: the common float16 model has nothing to ask about, and costs nothing here.
        let asksBackend = respectsBackendLimits && model.graph.nodes.contains { runtime.backend.mayRefuse($0, computing: options.target) }
        // The run check is for the backend the model runs on; a model made for another runtime is not run here.
        let wantsRunCheck = runCheck && respectsBackendLimits
        let needsFloat32 = feeds != nil || check != nil || loadCheck || asksBackend || wantsRunCheck
        var prepared = needsFloat32 ? try ModelConversion.prepare(model, options: options) : nil
        // Asked once, of the graph that gets converted (folding renames the layers it folds into).
        let support = asksBackend ? BackendSupport(model: model, target: options.target, backend: runtime.backend) : BackendSupport()
        for (key, why) in support.refused { options.keptNodes[key] = "\(runtime.backend.name): \(why)" }
        var undecided = support.decidedAtRun
        clock.lap("prepare")
        // The prepared float32 model as bytes: made once, for the feeds, the check's reference and
        // each conversion attempt.
        let float32 = needsFloat32 ? try model.serialized() : nil
        var first: [String: Tensor]?
        if let feeds, let float32 {
            // Only the inputs' descriptions: the session goes before range analysis makes its own.
            let inputs = try runtime.session(.bytes(float32, name: input)).inputs
            let next = try feeds.make(inputs)
            first = try next()
            if feeds.measuresRanges, let head = first {
                var pending: [String: Tensor]? = head
                let statistics = try ActivationStatistics.collect(model: model, on: runtime) {
                    defer { pending = nil }
                    return try pending ?? next()
                }
                let ranges = RangeAnalysis(statistics: statistics, source: feeds.source)
                let threshold = rangeThreshold ?? (options.target == .bfloat16 ? 4.2e37 : 8192)
                let decided = ranges.decisions(for: model, threshold: threshold)
                options.keptNodes.merge(decided) { first, _ in first }
                let largest = ranges.largest
                prepared?.range = .init(source: feeds.source, threshold: threshold, measuredValues: ranges.measurements.count,
                                        largestAbs: largest.magnitude, largestValue: largest.value, keptNodes: decided.count)
            }
        }
        clock.lap("range analysis")

        var mixedOutcome: MixedPrecisionSearch.Outcome?
        if let mixed, let float32, let base = prepared {
            guard let first else {
                throw PrecisionError.badOption("--to mixed measures the model on inputs: give --images, --inputs, --calibration or --random")
            }
            var search = MixedPrecisionSearch(float32: float32, base: base, runtime: runtime, feeds: [first],
                                              maxRelativeL2: mixed.maxRelativeL2, elementwise: mixed.elementwise)
            options = try search.run(start: options)
            mixedOutcome = search.outcome
            clock.lap("mixed-precision search")
        }

        // One run settles the undecided nodes and is the run check (and, with --check, catches
        // run-time refusals before the check does): on the given inputs, else on random ones the
        // float32 model runs on. With neither, the undecided nodes stay float32.
        var probeFeed = undecided.isEmpty && check == nil && !wantsRunCheck ? nil : first
        var runCheckNote = first.map { _ in "on \(feeds?.source ?? "the given inputs")" }
        var runsCheck = wantsRunCheck
        if (!undecided.isEmpty || wantsRunCheck) && probeFeed == nil, let float32 {
            switch RunCheckInputs(model: model, given: inputShapes).feed(runningOn: runtime, float32: float32) {
            case .success(let made):
                probeFeed = made.feed
                runCheckNote = "on random inputs (\(made.shapes))"
            case .failure(let failure) where !failure.floatModelLoads:
                // Made for another runtime (a custom op): the result cannot run where the float32 model does not.
                runCheckNote = nil
                if wantsRunCheck { notes.append("run check skipped: \(failure.reason)") }
                runsCheck = false
            case .failure(let failure):
                runCheckNote = nil
                if wantsRunCheck { notes.append("run check: the result was loaded, not run: \(failure.reason); give --inputs or --shape NAME=DIMS") }
            }
        }
        if !undecided.isEmpty && probeFeed == nil {
            for (key, why) in undecided { options.keptNodes[key] = "\(why); nothing to run it on (give --inputs, --images or static input shapes)" }
            undecided.removeAll()
        }

        let converted: Model
        var report: ConversionReport
        var validated = false
        if let float32, let base = prepared, loadCheck || check != nil || probeFeed != nil || runsCheck {
            (converted, report) = try BackendProbe.convert(prepared: float32, report: base, options: options, on: runtime, feed: probeFeed,
                                                           suspects: undecided)
            validated = true
        } else {
            // Prepared already when ranges were measured; else prepared here, folded weights
            // scaled as they are narrowed.
            converted = model
            report = try ModelConversion.convert(model, options: options, prepared: prepared, validating: false)
        }
        report.warnings.insert(contentsOf: notes, at: 0)
        if runsCheck, let runCheckNote, probeFeed != nil { report.runCheck = "ran once in \(runtime.backend.name) \(runCheckNote)" }
        report.mixed = mixedOutcome
        if !support.refused.isEmpty {
            report.warnings.append("\(support.refused.count) node(s) kept in float32 because \(runtime.backend.name) cannot run them in \(options.target.name) "
                + "(listed under kept float32); converting for another runtime (TensorRT, a GPU)? pass --any-runtime")
        }
        clock.lap("convert")

        // Our validator checks the converted graph on another core while the file is written; the
        // file takes its name only if the graph is valid (the probe path validated it already).
        let verdict = validated ? nil : Background { ModelConversion.validationFailure(converted) }
        try converted.save(to: output, externalData: externalData) { verdict?.wait() == nil }
        if let failure = verdict?.wait() { throw failure }
        clock.lap("save")
        return ConversionOutcome(report: report, stages: clock.laps, input: input, output: output, float32: float32, feed: first)
    }

    /// The converted model against float32 on the job's first batch, output by output under the
    /// gate; nil when no check was asked for.
    public func check(_ outcome: ConversionOutcome) throws -> CheckResult? {
        guard let check, let float32 = outcome.float32 else { return nil }
        guard let feed = outcome.feed else { throw PrecisionError.badOption("the check needs inputs; none were given") }
        // The reference is the original file, or the input-folded float32 model (same inputs as the result).
        let reference: ModelSource = inputFolds.isEmpty ? .file(outcome.input) : .bytes(float32, name: "float32 (input folded)")
        let a = try runtime.session(reference), b = try runtime.session(.file(outcome.output))
        let entries = try ModelComparison.outputs(reference: a, candidate: b, feeds: feed, tolerance: check.tolerance)
        let (verdicts, passed) = check.gate.verdicts(entries)
        return CheckResult(reference: inputFolds.isEmpty ? outcome.input : "float32 (input folded)", candidate: outcome.output,
                           gate: check.gate, entries: entries, verdicts: verdicts, passed: passed)
    }
}

/// What a conversion job did: the report and where the time went (and what its check needs).
public struct ConversionOutcome {
    public var report: ConversionReport
    public var stages: [(name: String, milliseconds: Double)]
    let input: String
    let output: String
    /// The prepared float32 model and the first batch, kept for `ConversionJob.check`.
    let float32: Data?
    let feed: [String: Tensor]?
}

/// The converted model against float32 on the same inputs, output by output, under the gate.
public struct CheckResult: Encodable {
    public var reference: String
    public var candidate: String
    public var gate: AccuracyGate
    public var entries: [OutputComparison]
    public var verdicts: [AccuracyGate.Verdict]
    public var passed: Bool
}

/// Wall-clock time per stage of a job.
public struct StageTimes {
    private var last = ContinuousClock.now
    public private(set) var laps: [(name: String, milliseconds: Double)] = []

    public init() {}

    public mutating func lap(_ stage: String) {
        let now = ContinuousClock.now
        laps.append((stage, (now - last).milliseconds))
        last = now
    }
}
