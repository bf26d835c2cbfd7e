import ArgumentParser
import FoundationEssentials
import Inference
import Precision
import Tensors

/// `halfpipe quantize MODEL -o OUT --calibration DIR`: INT8 post-training quantization to QDQ.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a float32 ONNX model to INT8 (QDQ) with calibration on real data.",
        discussion: """
            Calibration runs the float32 model over the data a batch at a time and folds every \
            intermediate into streamed statistics (min, max, a 2048-bin |x| histogram), so memory \
            holds one batch whatever the number of samples. Conv, ConvTranspose, Gemm and MatMul \
            with constant weights get int8 weights (per output channel) and int32 biases; their \
            inputs and outputs get QuantizeLinear/DequantizeLinear pairs; the rest stays float32. \
            Layers stay in float where int8 would not pay on a CPU (short reductions, isolated \
            depthwise convolutions), before the model's outputs, and where a tensor's int8 error \
            (estimated from its histogram) is too large; the report says why for every layer. \
            Activations are uint8 with zero points (what ONNX Runtime's CPU kernels fuse; \
            HardSigmoid and HardSwish then run on int8 too); give --symmetric for TensorRT. \
            The accuracy search (--target-rel-l2, --target-agreement) sends the layers that harm \
            the outputs most back to float. The input file is never changed.

            Examples:
              halfpipe quantize det.onnx -o det-int8.onnx --calibration pages/ --image-preset paddleocr-det --check
              halfpipe quantize cls.onnx -o cls-int8.onnx --calibration samples/ --calibrator percentile --percentile 99.99
              halfpipe quantize rec.onnx -o rec-int8.onnx --calibration lines/ --target-agreement 0.999 --validation-batches 25
              halfpipe quantize yolo.onnx -o yolo-int8.onnx --calibration frames/ --symmetric --write-cache yolo.cache
              halfpipe quantize yolo.onnx -o yolo-int8.onnx --read-cache yolo.cache
            """
    )

    @Argument(help: "The float32 model.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write the INT8 model.", valueName: "out.onnx"))
    var output: String

    @Option(help: ArgumentHelp("Calibration data: image files or folders (with --image-preset/--image-spec), .npy files (one sample or batch of the only input each) or .npz feeds (repeatable).", valueName: "path"))
    var calibration: [String] = []

    @Option(help: "Samples per calibration run (consecutive files join along the batch axis).")
    var calibrationBatch = 1

    @Option(help: ArgumentHelp("How ranges are chosen: entropy (TensorRT's KL calibration), minmax, or percentile. Default: each one tried with the accuracy guard on the held-back files and the best kept (entropy without the guard).", valueName: "method"))
    var calibrator: CalibratorName?

    @Option(help: "--calibrator percentile: the percentage of |x| values inside the range.")
    var percentile = 99.999

    @Flag(help: "Symmetric int8 activations (zero point 0), as TensorRT requires. The default, uint8 with zero points (ReLUs fold into ranges), is what ONNX Runtime's CPU kernels run fast.")
    var symmetric = false

    @Option(help: ArgumentHelp("What the layers left in float compute in: fp32, or fp16 (for GPUs and TensorRT; ONNX Runtime's CPU provider gains nothing from it).", valueName: "type"))
    var rest = RestPrecision.fp32

    @Flag(help: "One scale per weight tensor instead of one per output channel.")
    var perTensor = false

    @Option(help: ArgumentHelp("Weight precision: 8, or 7 for x86 CPUs without VNNI, whose ONNX Runtime int8 kernels saturate with 8-bit weights (default: what this CPU needs).", valueName: "bits"))
    var weightBits: WeightBits?

    @Option(name: .customLong("exclude-op"), help: ArgumentHelp("Keep layers of this op type in float (pattern, * and ?; repeatable).", valueName: "pattern"))
    var excludeOps: [String] = []

    @Option(name: .customLong("exclude-node"), help: ArgumentHelp("Keep this node in float (name or output name pattern; repeatable).", valueName: "pattern"))
    var excludeNodes: [String] = []

    @Flag(help: "Only the layers (Conv, Gemm, MatMul …) run on int8, not the Sigmoid, Mul, Add, Concat and GlobalAveragePool nodes between them.")
    var layersOnly = false

    @Flag(help: "Quantize every eligible layer, also where int8 is slower than float on a CPU (small reduction lengths, isolated depthwise convolutions).")
    var everyLayer = false

    @Option(help: "How many of the last layers before each model output stay float (0 quantizes them too).")
    var keepOutputLayers = 1

    @Option(help: "Keep a layer in float when its input or output would lose more than this fraction in int8 (relative RMS error estimated from the tensor's histogram).")
    var maxTensorError = 0.1

    @Option(help: ArgumentHelp("Also write the calibrated ranges as a TensorRT calibration cache.", valueName: "file"))
    var writeCache: String?

    @Option(help: ArgumentHelp("Take the ranges from a TensorRT calibration cache instead of calibrating.", valueName: "file"))
    var readCache: String?

    @Option(help: "TensorRT version number written in the cache header (TRT-<version>-<algorithm>).")
    var cacheVersion = CalibrationCache.defaultVersion

    @Option(help: ArgumentHelp("Accuracy search: send the layers that harm the outputs most back to float until every output is within this relative L2 of float32 on the first calibration batches (each layer's effect measured once).", valueName: "x"))
    var targetRelL2: Double?

    @Option(help: ArgumentHelp("Accuracy search: send layers back to float until int8 picks float32's class (the argmax over each output's last axis: a classifier's sample, a recognizer's time step) on at least this fraction of the positions of the validation batches; 1 keeps every class. With --target-rel-l2, both must hold.", valueName: "fraction"))
    var targetAgreement: Double?

    @Option(help: "Calibration batches the accuracy search validates on when nothing is held back (--hold-back 0).")
    var validationBatches = 2

    @Option(help: ArgumentHelp("The share of the calibration files (at least 8, at most half and 64) calibration never sees: the accuracy guard and the search judge the INT8 model on them. 0 holds nothing back.", valueName: "fraction"))
    var holdBack = 0.2

    @Flag(name: .customLong("no-accuracy-guard"), help: "Write the INT8 model without judging it. By default, with no --target-rel-l2 or --target-agreement, it is judged on the held-back files by its task (a detector's boxes, a classifier's class, else relative L2 5e-2), layers go back to float until it passes, and a model that cannot pass is not written (exit 1).")
    var noAccuracyGuard = false

    @OptionGroup var imageFeed: ImageFeedOptions

    @Flag(name: .customLong("no-run-check"), help: "Do not run the INT8 model before writing it. By default it runs once (on the first calibration batch, else random inputs), and a model the runtime refuses is not written.")
    var noRunCheck = false

    @Flag(help: "Compare the INT8 model with the float32 one on the first calibration batch; exit 1 if out of tolerance.")
    var check = false

    @Option(help: "--check: largest relative L2 error (‖b − a‖ / ‖a‖) an output may have.")
    var maxRelL2: Double = 5e-2

    @Option(help: ArgumentHelp("Also write the report as JSON.", valueName: "report.json"))
    var report: String?

    @Flag(help: "Print how long each stage took (to standard error).")
    var timings = false

    @Flag(help: "Print the report as JSON instead of the summary.")
    var json = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard percentile > 0 && percentile <= 100 else { throw ValidationError("--percentile \(percentile): use a percentage in (0, 100], such as 99.999") }
        if let t = targetRelL2, !(t > 0 && t.isFinite) { throw ValidationError("--target-rel-l2 \(t): use a positive tolerance such as 0.05") }
        if let a = targetAgreement, !(a > 0 && a <= 1) { throw ValidationError("--target-agreement \(a): use a fraction in (0, 1], such as 1 (every class kept) or 0.99") }
        guard validationBatches >= 1 else { throw ValidationError("--validation-batches \(validationBatches): use 1 or more") }
        guard holdBack >= 0 && holdBack < 1 else { throw ValidationError("--hold-back \(holdBack): use a fraction in [0, 1), such as 0.2") }
        guard keepOutputLayers >= 0 else { throw ValidationError("--keep-output-layers \(keepOutputLayers): use 0 or more") }
        guard calibrationBatch >= 1 else { throw ValidationError("--calibration-batch \(calibrationBatch): use 1 or more") }
        guard maxTensorError > 0 && maxTensorError.isFinite else { throw ValidationError("--max-tensor-error \(maxTensorError): use a positive fraction such as 0.1") }
        guard maxRelL2 >= 0 && maxRelL2.isFinite else { throw ValidationError("--max-rel-l2 \(maxRelL2): use a finite tolerance ≥ 0") }
        guard cacheVersion.allSatisfy(\.isNumber), !cacheVersion.isEmpty else { throw ValidationError("--cache-version \(cacheVersion): use TensorRT's version number, such as 8601") }
        if readCache == nil && calibration.isEmpty && imageFeed.images.isEmpty {
            throw ValidationError("no calibration data: give --calibration DIR|FILE (images, .npy or .npz), or --read-cache FILE")
        }
    }

    func run() throws {
        try OutputPath.refuseOverwrite(input: model, output: output, report: report)
        for path in [writeCache, readCache].compactMap({ $0 }) where path == model || path == output {
            throw CLIError("the cache file \(path) is the model or the output; give it another name")
        }
        var options = QuantizationOptions()
        options.method = CalibrationMethod(name: (calibrator ?? .entropy).rawValue, percentile: percentile)!
        options.symmetric = symmetric
        options.everyLayer = everyLayer
        if layersOnly { options.int8OpTypes = [] }
        options.rest = rest == .fp16 ? .float16 : .float32
        options.perChannel = !perTensor
        if let weightBits { options.reduceRange = weightBits == .seven }
        options.excludedOpTypes = excludeOps.map(NamePattern.init)
        options.excludedNodeNames = excludeNodes.map(NamePattern.init)
        options.floatOutputLayers = keepOutputLayers
        options.maxTensorError = maxTensorError

        // Read everything that can be wrong before any model runs.
        let paths = calibration + imageFeed.images
        let source = paths.isEmpty ? nil : try CalibrationData(paths: paths)
        let images = try imageFeed.request(model: model)
        if source?.kind == .images && !images.isGiven {
            printStandardError("note: no --image-preset or --image-spec: images are letterboxed to the model's size, RGB, /255 (give the model's own preprocessing for meaningful ranges)")
        }
        let batch = calibrationBatch
        // A cache calibrates nothing here: all the data is unseen, and none is held back.
        let judged = !noAccuracyGuard || targetRelL2 != nil || targetAgreement != nil
        let split = readCache == nil && judged ? source?.holdingBack(holdBack) : nil
        let feeds = (split?.calibration ?? source)?.feeds(batch: batch, images: images)
        let calibrationPlan: QuantizationJob.Calibration
        if let readCache {
            calibrationPlan = .cache(try CalibrationCache.read(contentsOf: readCache), source: readCache, feeds: feeds)
        } else {
            calibrationPlan = .data(feeds!)
        }

        var job = QuantizationJob(options: options, runtime: try runtime.target(), calibration: calibrationPlan)
        job.writeCache = writeCache
        job.cacheVersion = cacheVersion
        job.accuracyTarget = targetRelL2
        job.agreementTarget = targetAgreement
        job.validationBatches = validationBatches
        job.heldBack = split?.heldBack?.feeds(batch: batch, images: images)
        job.accuracyGuard = !noAccuracyGuard
        job.choosesCalibrator = calibrator == nil
        job.percentileCandidate = percentile
        job.runCheck = !noRunCheck
        if check {
            let tolerance = ComparisonTolerance(rtol: 1e-2, atol: 1e-3)
            job.check = .init(gate: AccuracyGate(maxRelativeL2: maxRelL2, elementwise: nil), tolerance: tolerance)
        }
        let total = (split?.calibration ?? source)?.files.count ?? 0
        job.progress = { done in
            // Progress only for long runs: every 10 batches, on standard error.
            if done % 10 == 0 { printStandardError("calibration: \(min(done * batch, total)) of \(total) samples") }
        }

        let outcome = try job.run(input: model, output: output)
        try JobOutput.finish(stages: timings ? outcome.stages : nil, report: outcome.report, summary: outcome.report.summary(),
                             reportPath: report, json: json, title: "\(model) → \(output)") { try job.check(outcome) }
    }
}
