import ArgumentParser
import FoundationEssentials
import ONNX
import ONNXRuntime
import Precision
import Tensors

/// `halfpipe convert MODEL -o OUT --to fp16|bf16`: precision conversion that keeps the model's meaning.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a float32 ONNX model to float16 or bfloat16.",
        discussion: """
            Before converting, BatchNormalization is folded into the layer before it (in float64) and \
            Casts of constants are folded. Inputs an operator needs in float32 (Resize's scales, \
            integer-valued shape arithmetic) stay float32; constants are clamped to the target's real \
            limits and every clamp is reported. With --calibration, --images, --inputs or --random, a \
            float32 reference run measures every intermediate and keeps in float32 the nodes whose \
            values would overflow float16. The output is validated, then written atomically; the \
            input file is never changed.

            Examples:
              halfpipe convert det.onnx -o det-fp16.onnx --to fp16
              halfpipe convert det.onnx -o det-fp16.onnx --to fp16 --images pages/ --image-preset paddleocr-det --check
              halfpipe convert yolo.onnx -o yolo-fp16.onnx --to fp16 --random --keep-io-types none --report report.json
              halfpipe convert cls.onnx -o cls-fp16.onnx --to fp16 --input-uint8-nhwc x:scale=1/255,mean=imagenet,std=imagenet
            """
    )

    @Argument(help: "The float32 model.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write the converted model.", valueName: "out.onnx"))
    var output: String

    @Option(help: "Target type: fp16 (float16) or bf16 (bfloat16).")
    var to: String

    @Option(help: ArgumentHelp("Graph inputs/outputs that stay float32: all, none, or a comma-separated list of names.", valueName: "all|none|names"))
    var keepIoTypes = "all"

    @Option(name: .customLong("block-op"), help: ArgumentHelp("Keep ops of this type in float32 (pattern, * and ?; repeatable; added to the default list).", valueName: "pattern"))
    var blockOps: [String] = []

    @Flag(help: "Do not use the default op block list (CumSum, TopK, NonMaxSuppression, RoiAlign, Range, ReduceProd, Det).")
    var noDefaultBlockList = false

    @Option(name: .customLong("block-node"), help: ArgumentHelp("Keep nodes with this name in float32 (pattern; repeatable).", valueName: "pattern"))
    var blockNodes: [String] = []

    @Option(help: ArgumentHelp("Non-zero constants too small for the target: clamp (to ± the smallest subnormal) or zero.", valueName: "clamp|zero"))
    var tiny = "clamp"

    @Flag(help: "Do not fold BatchNormalization into the layer before it.")
    var noFoldBatchnorm = false

    @Option(name: .customLong("input-uint8-nhwc"), help: ArgumentHelp("Make an image input take raw uint8 NHWC pixels; Cast, scaling and layout go into the graph.", valueName: "name[:scale=1/255,mean=…,std=…]"))
    var inputFolds: [String] = []

    @Option(help: ArgumentHelp("Inputs for the range analysis and --check, from an .npz.", valueName: "feed.npz"))
    var calibration: String?

    @OptionGroup var feed: FeedOptions
    @OptionGroup var imageFeed: ImageFeedOptions

    @Option(help: "Range analysis: keep a node in float32 when an input or output |x| exceeds this (default: 8192 for fp16, an eighth of float16's 65504; 4.2e37 for bf16).")
    var rangeThreshold: Double?

    @Flag(help: "Compare the converted model with the float32 one on the same inputs (random if none are given); exit 1 if out of tolerance.")
    var check = false

    @Option(help: "--check: largest relative L2 error (‖b − a‖ / ‖a‖) an output may have.")
    var maxRelL2: Double = 1e-2

    @Option(help: "--check: also require every element within this relative tolerance (and --atol).")
    var rtol: Double?

    @Option(help: "--check: also require every element within this absolute tolerance (and --rtol).")
    var atol: Double?

    @Option(help: ArgumentHelp("Also write the report as JSON.", valueName: "report.json"))
    var report: String?

    @Option(help: ArgumentHelp("Tensor data in a separate file: auto (only above 2 GB), always, never.", valueName: "auto|always|never"))
    var externalData = "auto"

    @Flag(help: "Load the converted model in ONNX Runtime; when it refuses an op type in the target type (its CPU provider does for Attention and RMSNormalization), convert again with that op type in float32. Implied by --check.")
    var loadCheck = false

    @Flag(help: "Print how long loading, preparing, range analysis, converting and saving took (to standard error).")
    var timings = false

    @Flag(help: "Print the report as JSON instead of the summary.")
    var json = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard ["fp16", "float16", "bf16", "bfloat16"].contains(to.lowercased()) else { throw ValidationError("--to \(to): use fp16 or bf16") }
        guard TinyValuePolicy(rawValue: tiny) != nil else { throw ValidationError("--tiny \(tiny): use clamp or zero") }
        guard ["auto", "always", "never"].contains(externalData) else { throw ValidationError("--external-data \(externalData): use auto, always or never") }
        if let t = rangeThreshold, !(t.isFinite && t > 0) { throw ValidationError("--range-threshold \(t): use a positive number such as 8192") }
        for t in [rtol, atol, maxRelL2].compactMap({ $0 }) where !(t.isFinite && t >= 0) { throw ValidationError("--rtol/--atol/--max-rel-l2 \(t): use finite tolerances ≥ 0") }
    }

    var target: DType { to.lowercased().hasPrefix("b") ? .bfloat16 : .float16 }

    func run() throws {
        try OutputPath.refuseOverwrite(input: model, output: output, report: report)
        var stages = StageClock(enabled: timings)
        let loaded = try Model.load(contentsOf: model)
        stages.lap("load")
        var notes: [String] = []
        for spec in inputFolds { notes.append(try InputFolding(parsing: spec).apply(to: loaded)) }

        var options = ConversionOptions(target: target)
        options.keepIOTypes = keepIoTypes == "all" ? .all : keepIoTypes == "none" ? .none : .names(Set(keepIoTypes.split(separator: ",").map(String.init)))
        options.blockedOpTypes = (noDefaultBlockList ? [] : ConversionOptions.defaultBlockedOpTypes) + blockOps.map(NamePattern.init)
        options.blockedNodeNames = blockNodes.map(NamePattern.init)
        options.tinyValues = TinyValuePolicy(rawValue: tiny)!
        options.foldBatchNorm = !noFoldBatchnorm
        // Inputs: for the range analysis when given, and for --check (random when none are given).
        let wantsRanges = calibration != nil || imageFeed.given || feed.random || feed.feedArchive != nil || !feed.inputs.isEmpty
        // The float32 side is prepared apart only when ONNX Runtime runs the prepared model;
        // otherwise the conversion prepares it itself, scaling folded weights as it narrows them.
        var prepared = wantsRanges || check || loadCheck ? try ModelConversion.prepare(loaded, options: options) : nil
        stages.lap("prepare")
        let sessionOptions = try runtime.sessionOptions()
        var feeds: [String: Tensor]?
        var reference: Data?
        // The prepared float32 model as bytes: made once, for the feeds' session, the --check
        // reference and the load check's fresh copies.
        var fp32: Data?
        if wantsRanges || check {
            let bytes = try loaded.serialized()
            fp32 = bytes
            let session = try ORTSession(serialized: bytes, options: sessionOptions, name: model)
            feeds = try inputFeeds(for: session, forceRandom: !wantsRanges)
            if check && !inputFolds.isEmpty { reference = bytes }  // the folded model takes the same inputs as the converted one
        }
        if wantsRanges, let feeds {
            let source = calibration.map { "calibration \($0)" } ?? (imageFeed.given ? "\(imageFeed.images.count) image path(s)" : feed.random ? "random inputs (seed \(feed.seed))" : "given inputs")
            let ranges = try RangeAnalysis(model: loaded, feeds: [feeds], source: source) { bytes in
                try ORTSession(serialized: bytes, options: sessionOptions, name: "\(model) (range analysis)")
            }
            let threshold = rangeThreshold ?? (target == .bfloat16 ? 4.2e37 : 8192)
            options.keptNodes = ranges.decisions(for: loaded, threshold: threshold)
            let largest = ranges.largest
            prepared?.range = .init(source: source, threshold: threshold, measuredValues: ranges.measurements.count,
                                   largestAbs: largest.magnitude, largestValue: largest.value, keptNodes: options.keptNodes.count)
        }
        stages.lap("range analysis")
        let (converted, result, validated) = try convert(loaded, serialized: fp32, options: options, prepared: prepared, notes: notes,
                                                         sessionOptions: sessionOptions)
        stages.lap("convert")
        let policy: ExternalDataPolicy = externalData == "always" ? .separateFile() : externalData == "never" ? .embed : .automatic
        // Our validator checks the converted graph on another core while the file is written;
        // the file takes its name only if the graph is valid. (--check and --load-check have
        // validated it already: no second run, no thread.)
        let verdict = validated ? nil : Background { ModelConversion.validationFailure(converted) }
        try converted.save(to: output, externalData: policy) { verdict?.wait() == nil }
        if let failure = verdict?.wait() { throw failure }
        stages.lap("save")
        stages.report()
        if let report { try FileBytes.writeAtomically(try ReportJSON.data(result), to: report) }
        if json {
            print(try ReportJSON.text(result))
        } else {
            print("\(model) → \(output)")
            result.summary().forEach { print($0) }
        }
        if check, let feeds {
            let source: ConversionCheck.Source = reference.map { .bytes($0) } ?? .path(model)
            let passed = try ConversionCheck(reference: source, candidate: output,
                                             options: sessionOptions, tolerance: ComparisonTolerance(rtol: rtol ?? 1e-3, atol: atol ?? 1e-5),
                                             maxRelativeL2: maxRelL2, elementwise: rtol != nil || atol != nil).run(feeds, printJSON: json)
            if !passed { throw ExitCode.failure }
        }
    }

    /// The conversion, with ONNX Runtime's word on the result with --load-check or --check; says
    /// whether our validator has passed the model yet (without those, the caller runs it).
    private func convert(_ model: Model, serialized: Data?, options: ConversionOptions, prepared: ConversionReport?, notes: [String],
                         sessionOptions: SessionOptions) throws -> (Model, ConversionReport, validated: Bool) {
        let notes = notes.map { "note: \($0)" }
        var outcome: (Model, ConversionReport, validated: Bool)
        if loadCheck || check, let prepared {
            let done = try RuntimeCompatibility.convert(prepared: try serialized ?? model.serialized(), report: prepared, options: options) { candidate in
                do {
                    _ = try ORTSession(serialized: try candidate.serialized(), options: sessionOptions, name: "converted model")
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            outcome = (done.model, done.report, true)
        } else {
            outcome = (model, try ModelConversion.convert(model, options: options, prepared: prepared, validating: false), false)
        }
        outcome.1.warnings.insert(contentsOf: notes, at: 0)
        return outcome
    }

    private func inputFeeds(for session: ORTSession, forceRandom: Bool) throws -> [String: Tensor] {
        var feeds = try feed.feeds(for: session.inputs, forceRandom: false)
        if let calibration { for (name, tensor) in try NPZ.read(contentsOf: calibration) { feeds[name] = tensor } }
        if imageFeed.given {
            let images = try imageFeed.prepare(for: session.inputs)
            feeds[images.name] = try images.tensor()
        }
        if forceRandom || feed.random {
            feeds = try feed.feeds(for: session.inputs, forceRandom: true).merging(feeds) { _, given in given }
        }
        let missing = session.inputs.map(\.name).filter { feeds[$0] == nil }
        guard missing.isEmpty else {
            throw CLIError("no data for input(s) \(missing.joined(separator: ", ")); give them in --calibration/--inputs, or add --random")
        }
        return feeds
    }
}

/// Wall-clock time per stage of a command, printed to standard error with --timings.
struct StageClock {
    let enabled: Bool
    private var last = ContinuousClock.now
    private var laps: [(String, Duration)] = []

    init(enabled: Bool) { self.enabled = enabled }

    mutating func lap(_ stage: String) {
        guard enabled else { return }
        let now = ContinuousClock.now
        laps.append((stage, now - last))
        last = now
    }

    func report() {
        guard enabled else { return }
        let ms = laps.map { ($0.0, Double($0.1.components.attoseconds) / 1e15 + Double($0.1.components.seconds) * 1e3) }
        printStandardError("timings: " + ms.map { "\($0.0) \(NumberText.fixed($0.1, 1)) ms" }.joined(separator: ", ")
            + "; total \(NumberText.fixed(ms.reduce(0) { $0 + $1.1 }, 1)) ms")
    }
}
