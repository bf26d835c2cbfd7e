import ArgumentParser
import FoundationEssentials
import Inference
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
              halfpipe convert yolo.onnx -o yolo-mixed.onnx --to mixed --images photos/ --image-preset yolox416 --rtol 1e-2 --atol 1e-3
            """
    )

    @Argument(help: "The float32 model.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write the converted model.", valueName: "out.onnx"))
    var output: String

    @Option(help: ArgumentHelp("Target type: fp16 (float16), bf16 (bfloat16), mixed (float16 where the outputs stay within --max-rel-l2 (and --rtol/--atol) on the given inputs, float32 elsewhere), or mixed-int8 (int8 where the outputs stay within --max-rel-l2: `halfpipe quantize --target-rel-l2` on the given inputs, with its defaults).", valueName: "type"))
    var to: ConversionTarget

    @Option(help: ArgumentHelp("Graph inputs/outputs that stay float32: all, none, or a comma-separated list of names.", valueName: "all|none|names"))
    var keepIoTypes = "all"

    @Option(name: .customLong("block-op"), help: ArgumentHelp("Keep ops of this type in float32 (pattern, * and ?; repeatable; added to the default list).", valueName: "pattern"))
    var blockOps: [String] = []

    @Flag(help: "Do not use the default op block list (CumSum, TopK, NonMaxSuppression, RoiAlign, Range, ReduceProd, Det).")
    var noDefaultBlockList = false

    @Option(name: .customLong("block-node"), help: ArgumentHelp("Keep nodes with this name in float32 (pattern; repeatable).", valueName: "pattern"))
    var blockNodes: [String] = []

    @Option(help: ArgumentHelp("Non-zero constants too small for the target: clamp (to ± the smallest subnormal) or zero.", valueName: "policy"))
    var tiny = TinyValuePolicy.clamp

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

    @Option(help: "--check and --to mixed: largest relative L2 error (‖b − a‖ / ‖a‖) an output may have.")
    var maxRelL2: Double = 1e-2

    @Option(help: "--check and --to mixed: also require every element within this relative tolerance (and --atol).")
    var rtol: Double?

    @Option(help: "--check and --to mixed: also require every element within this absolute tolerance (and --rtol).")
    var atol: Double?

    @Option(help: ArgumentHelp("Also write the report as JSON.", valueName: "report.json"))
    var report: String?

    @Option(help: ArgumentHelp("Tensor data in a separate file: auto (only above 2 GB), always, never.", valueName: "when"))
    var externalData = ExternalDataChoice.auto

    @Flag(help: "With --no-run-check: still load the converted model in the backend (ONNX Runtime), and send each node it refuses back to float32.")
    var loadCheck = false

    @Flag(name: .customLong("no-run-check"), help: "Do not run the result before writing it. By default it runs once in ONNX Runtime (on the given inputs, else on random ones at the shapes the float32 model runs at: --shape, the model's imgsz, batch 1, the smallest size that runs), every node it refuses goes back to float32, and a result that cannot be made to run is not written.")
    var noRunCheck = false

    @Flag(help: "Convert for another runtime (TensorRT, a GPU): ignore what ONNX Runtime's CPU provider cannot run in the target type (it has few bfloat16 kernels), so no node stays float32 for its sake.")
    var anyRuntime = false

    @Flag(help: "Print how long loading, preparing, range analysis, converting and saving took (to standard error).")
    var timings = false

    @Flag(help: "Print the report as JSON instead of the summary.")
    var json = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if let t = rangeThreshold, !(t.isFinite && t > 0) { throw ValidationError("--range-threshold \(t): use a positive number such as 8192") }
        for t in [rtol, atol, maxRelL2].compactMap({ $0 }) where !(t.isFinite && t >= 0) { throw ValidationError("--rtol/--atol/--max-rel-l2 \(t): use finite tolerances ≥ 0") }
    }

    var target: DType { to == .bf16 ? .bfloat16 : .float16 }

    func run() throws {
        try OutputPath.refuseOverwrite(input: model, output: output, report: report)
        var options = ConversionOptions(target: target)
        options.keepIOTypes = keepIoTypes == "all" ? .all : keepIoTypes == "none" ? .none : .names(Set(keepIoTypes.split(separator: ",").map(String.init)))
        options.blockedOpTypes = (noDefaultBlockList ? [] : ConversionOptions.defaultBlockedOpTypes) + blockOps.map(NamePattern.init)
        options.blockedNodeNames = blockNodes.map(NamePattern.init)
        options.tinyValues = tiny
        options.foldBatchNorm = !noFoldBatchnorm

        if to == .mixedInt8 { return try mixedInt8() }
        var job = ConversionJob(options: options, runtime: try runtime.target(loadingNow: false))
        job.inputFolds = try inputFolds.map { try InputFolding(parsing: $0) }
        job.rangeThreshold = rangeThreshold
        job.loadCheck = loadCheck
        job.runCheck = !noRunCheck
        job.inputShapes = try feed.givenShapes()
        job.respectsBackendLimits = !anyRuntime
        job.externalData = switch externalData {
        case .always: .separateFile()
        case .never: .embed
        case .auto: .automatic
        }
        // Inputs measure ranges when given; --check alone runs on random inputs.
        let wantsRanges = calibration != nil || imageFeed.given || feed.random || feed.feedArchive != nil || !feed.inputs.isEmpty
        if wantsRanges || check {
            let source = calibration.map { "calibration \($0)" } ?? (imageFeed.given ? "\(imageFeed.images.count) image path(s)"
                : wantsRanges && !feed.random ? "given inputs" : "random inputs (seed \(feed.seed))")
            job.feeds = .init(source: source, measuresRanges: wantsRanges, batches: { inputs in [try inputFeeds(for: inputs, forceRandom: !wantsRanges)] })
        }
        if to == .mixed {
            guard wantsRanges else { throw CLIError("--to mixed measures the model on inputs: give --images, --inputs, --calibration or --random") }
            let elementwise = rtol != nil || atol != nil ? ComparisonTolerance(rtol: rtol ?? 1e-3, atol: atol ?? 1e-5) : nil
            job.mixed = (maxRelL2, elementwise)
        }
        if check {
            let elementwise = rtol != nil || atol != nil
            let tolerance = ComparisonTolerance(rtol: rtol ?? 1e-3, atol: atol ?? 1e-5)
            job.check = .init(gate: AccuracyGate(maxRelativeL2: maxRelL2, elementwise: elementwise ? tolerance : nil), tolerance: tolerance)
        }

        let outcome = try job.run(input: model, output: output)
        try JobOutput.finish(stages: timings ? outcome.stages : nil, report: outcome.report, summary: outcome.report.summary(),
                             reportPath: report, json: json, title: "\(model) → \(output)") { try job.check(outcome) }
    }

    /// `--to mixed-int8`: the quantization job with its accuracy search on the given inputs (they
    /// calibrate and validate), the bound --max-rel-l2.
    private func mixedInt8() throws {
        let wantsData = calibration != nil || imageFeed.given || feed.random || feed.feedArchive != nil || !feed.inputs.isEmpty
        guard wantsData else { throw CLIError("--to mixed-int8 calibrates and measures the model on inputs: give --images, --inputs, --calibration or --random") }
        let feeds = ConversionJob.Feeds(source: imageFeed.given ? "\(imageFeed.images.count) image path(s)" : "given inputs", measuresRanges: true,
                                        batches: { inputs in [try inputFeeds(for: inputs, forceRandom: false)] })
        var job = QuantizationJob(options: QuantizationOptions(), runtime: try runtime.target(), calibration: .data(feeds))
        job.accuracyTarget = maxRelL2
        job.validationBatches = 1
        job.runCheck = !noRunCheck
        let outcome = try job.run(input: model, output: output)
        try JobOutput.finish(stages: timings ? outcome.stages : nil, report: outcome.report, summary: outcome.report.summary(),
                             reportPath: report, json: json, title: "\(model) → \(output)") { nil }
    }

    private func inputFeeds(for inputs: [TensorDescription], forceRandom: Bool) throws -> [String: Tensor] {
        var feeds = try feed.feeds(for: inputs, forceRandom: false)
        if let calibration { for (name, tensor) in try NPZ.read(contentsOf: calibration) { feeds[name] = tensor } }
        if imageFeed.given {
            let images = try imageFeed.prepare(for: inputs, model: model)
            feeds[images.name] = try images.tensor()
        }
        if forceRandom || feed.random {
            feeds = try feed.feeds(for: inputs, forceRandom: true).merging(feeds) { _, given in given }
        }
        let missing = inputs.map(\.name).filter { feeds[$0] == nil }
        guard missing.isEmpty else {
            throw CLIError("no data for input(s) \(missing.joined(separator: ", ")); give them in --calibration/--inputs, or add --random")
        }
        return feeds
    }
}

/// `convert --check`'s verdicts as text (or JSON).
enum CheckText {
    struct JSONForm: Encodable {
        var maxRelativeL2: Double
        var elementwise: ComparisonTolerance?
        var outputs: [AccuracyGate.Verdict]
        var passed: Bool
    }

    static func text(_ result: CheckResult, json: Bool) throws -> String {
        let gate = result.gate
        if json {
            return try ReportJSON.text(JSONForm(maxRelativeL2: gate.maxRelativeL2, elementwise: gate.elementwise, outputs: result.verdicts, passed: result.passed))
        }
        var lines = ["", "check against \(result.reference) (relative L2 ≤ \(gate.maxRelativeL2)"
            + (gate.elementwise.map { ", rtol \($0.rtol) / atol \($0.atol) elementwise" } ?? "") + "):"]
        for v in result.verdicts {
            let figures = "rel L2 \(v.relativeL2.map(NumberText.scientific) ?? "-"), cosine \(v.cosine.map { NumberText.fixed($0, 6) } ?? "-"), max abs \(v.maxAbsError.map(NumberText.scientific) ?? "-")"
            lines.append("  \(v.output): \(figures): \(v.passed ? "PASS" : "FAIL (\(v.why))")")
        }
        let failed = result.verdicts.filter { !$0.passed }.count
        lines.append(result.passed ? "PASS: all \(result.verdicts.count) outputs within bounds" : "FAIL: \(failed) of \(result.verdicts.count) outputs out of bounds")
        return lines.joined(separator: "\n")
    }
}
