import FoundationEssentials
import Inference
import ONNX
import Tensors

/// The whole of `halfpipe quantize` as one job: load → refuse models already quantized → prepare
/// (BatchNorm folding, opset 13 for per-channel scales) → calibrate (streamed statistics, or a
/// TensorRT cache) → plan → rewrite to QDQ → validate → save atomically; `check` compares with
/// float32 afterwards.
public struct QuantizationJob {
    public var options: QuantizationOptions
    /// The backend calibration runs on (and the check).
    public var runtime: ExecutionTarget
    public var calibration: Calibration
    /// Also write the calibrated ranges as a TensorRT cache here (`--write-cache`).
    public var writeCache: String?
    public var cacheVersion = CalibrationCache.defaultVersion
    public var check: ConversionJob.Check?
    /// Send the most harmful layers back to float until every output is within this relative L2
    /// of float32 on the validation batches (`QuantizationSearch`).
    public var accuracyTarget: Double?
    /// The accuracy search's argmax agreement target (a fraction): classifiers keep their classes.
    public var agreementTarget: Double?
    var searches: Bool { accuracyTarget != nil || agreementTarget != nil }
    /// Run the written model once (the first calibration batch, else random inputs) before saving
    /// it; a model the backend refuses is not written. False: `--no-run-check`.
    public var runCheck = true
    /// How many of the first calibration batches validate the search when nothing is held back.
    public var validationBatches = 2
    /// Data calibration never sees (`CalibrationData.holdingBack`): the accuracy guard and the
    /// search judge candidates on it.
    public var heldBack: ConversionJob.Feeds?
    /// With no target asked for, judge the model on the held-back data by its task
    /// (`AccuracyGuard`) and send layers back to float until it passes; false: `--no-accuracy-guard`.
    public var accuracyGuard = true
    /// With the accuracy guard and calibration data: try each calibrator's ranges (entropy,
    /// minmax, percentile) on the held-back data and keep the best; false: `options.method` only
    /// (a `--calibrator` given).
    public var choosesCalibrator = false
    /// The percentile calibrator's share of |x| among the candidates (`--percentile`).
    public var percentileCandidate = 99.999
    /// Hears the number of calibration batches done.
    public var progress: (Int) -> Void = { _ in }

    public enum Calibration {
        /// Batches of real inputs, streamed.
        case data(ConversionJob.Feeds)
        /// Ranges from a TensorRT calibration cache: no calibration run. The check (if asked)
        /// still needs inputs: `feeds` gives them.
        case cache(CalibrationCache, source: String, feeds: ConversionJob.Feeds?)
    }

    public init(options: QuantizationOptions, runtime: ExecutionTarget, calibration: Calibration) {
        self.options = options
        self.runtime = runtime
        self.calibration = calibration
    }

    /// Ops of models that are quantized already.
    static let quantizedOps: Set<String> = ["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
                                            "ConvInteger", "MatMulInteger", "QGemm", "QLinearAdd", "QLinearMul", "DynamicQuantizeLSTM"]

    public func run(input: String, output: String) throws -> QuantizationOutcome {
        var clock = StageTimes()
        let model = try Model.load(contentsOf: input)
        if let q = model.allGraphs.lazy.flatMap(\.nodes).first(where: { Self.quantizedOps.contains($0.opType) }) {
            throw PrecisionError.notConvertible("\(input) is quantized already (node '\(q.label)' is \(q.opType)); quantize the float32 model it came from")
        }
        var report = QuantizationReport(method: "\(options.method)", activations: options.symmetric ? "symmetric int8" : "asymmetric uint8",
                                        weights: (options.perChannel ? "per-channel int8" : "per-tensor int8") + (options.reduceRange ? ", 7-bit range (±63)" : ""),
                                        calibration: "")
        if options.reduceRange {
            report.notes.append("weights kept to 7 bits (±63): ONNX Runtime's x86 int8 kernels saturate 16-bit sums with 8-bit weights on CPUs without VNNI (--weight-bits 8 makes a model for CPUs with it)")
        } else if !CPUFeatures.hasInt8DotProduct {
            report.notes.append("8-bit weights on a CPU without VNNI: the accuracy search and the check run the model's exact Q/DQ arithmetic (ONNX Runtime at --optimization basic), as a CPU with VNNI computes it; ONNX Runtime's fused int8 kernels here would saturate")
        }
        report.bytesBefore = model.tensorDataBytes
        report.rest = options.rest.name
        var prepareOptions = ConversionOptions(target: .float16)
        prepareOptions.foldBatchNorm = options.foldBatchNorm
        report.batchNormFolded = try ModelConversion.prepare(model, options: prepareOptions).batchNormFolded
        if options.perChannel { report.notes += try OpsetUpgrade.apply(to: model) }
        let constants = ConstantValues(model.graph)
        report.layers = model.graph.nodes.filter { options.quantizedOpTypes.contains($0.opType) && $0.canonicalDomain == "ai.onnx" }.count
        guard model.graph.nodes.contains(where: { options.quantizedOpTypes.contains($0.opType) && $0.inputs.count > 1 && constants.float32ElementCount($0.inputs[1]) != nil }) else {
            throw PrecisionError.notConvertible("\(input) has no layer to quantize: no Conv, ConvTranspose, Gemm or MatMul with constant float32 weights")
        }
        let float32 = try model.serialized()
        clock.lap("prepare")

        // Ranges, from data or a cache.
        var ranges: [String: TensorRange] = [:]
        var histograms: [String: AbsHistogram] = [:]
        var first: [String: Tensor]?
        var validation: [[String: Tensor]] = []
        var measuredValues: [String: ActivationStatistics.Value] = [:]
        var method = options.method
        switch calibration {
        case .data(let feeds):
            let inputs = try runtime.session(.bytes(float32, name: input)).inputs
            let next = try feeds.make(inputs)
            var samples = 0
            let measured = QuantizationPlan.calibratedValues(of: model.graph, options: options)
            let statistics = try ActivationStatistics.collect(model: model, on: runtime, histogramBins: options.histogramBins, only: measured, nextBatch: {
                guard let batch = try next() else { return nil }
                if first == nil { first = batch }
                if heldBack == nil && validation.count < validationBatches { validation.append(batch) }
                samples += batch.values.first.map { $0.shape.dimensions.first ?? 1 } ?? 0
                return batch
            }, progress: progress)
            guard statistics.batches > 0 else { throw PrecisionError.badOption("no calibration data: \(feeds.source) gave no batch") }
            if !statistics.unmeasured.isEmpty {
                report.notes.append("\(statistics.unmeasured.count) value(s) not calibrated (their layers stay float): as extra outputs of the calibration run they made "
                    + "\(runtime.backend.name) refuse " + Set(statistics.unmeasured.values).sorted().joined(separator: ", "))
            }
            measuredValues = statistics.values
            ranges = Self.ranges(measuredValues, method: method, symmetric: options.symmetric)
            for (name, value) in statistics.values { if let h = value.histogram { histograms[name] = h } }
            report.calibration = feeds.source
            (report.batches, report.samples) = (statistics.batches, samples)
            report.activationBytesPerBatch = statistics.values.values.reduce(0) { $0 + $1.elements * 4 }
        case .cache(let cache, let source, let feeds):
            // Type inference over the whole graph: only a cache needs it.
            let floatValues = ActivationStatistics.floatValues(of: model)
            let unknown = cache.scales.map(\.name).filter { !floatValues.contains($0) }
            guard unknown.isEmpty else {
                throw PrecisionError.badOption("\(source) names \(unknown.count) tensor(s) this model does not have as float32 values: "
                    + unknown.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (unknown.count > 5 ? ", …" : "") + "; was it written for another model (or before BatchNorm folding renamed them)?")
            }
            ranges = cache.ranges
            report.calibration = "TensorRT cache \(source) (\(cache.header))"
            // The check and the search still need inputs: one stream serves both.
            if let feeds, check != nil || searches || accuracyGuard {
                let next = try feeds.make(try runtime.session(.bytes(float32, name: input)).inputs)
                let wanted = searches || accuracyGuard ? validationBatches : 1
                while validation.count < wanted, let batch = try next() { validation.append(batch) }
                first = validation.first
            }
        }
        report.tensorsCalibrated = ranges.count
        clock.lap("calibrate")

        if let heldBack {
            let next = try heldBack.make(try runtime.session(.bytes(float32, name: input)).inputs)
            while let batch = try next() { validation.append(batch) }
        }
        var plan = QuantizationPlan(graph: model.graph, ranges: ranges, histograms: histograms, options: options)
        let guards = !searches && accuracyGuard && !validation.isEmpty && plan.quantizedCount > 0
        if !searches && accuracyGuard && validation.isEmpty {
            report.warnings.append("no accuracy guard: no data to judge the model on (give calibration pictures or arrays; a cache alone has none)")
        }
        var search: QuantizationSearch?
        var target = QuantizationSearch.Target(relativeL2: accuracyTarget, agreement: agreementTarget)
        if searches || guards {
            guard !validation.isEmpty else { throw PrecisionError.badOption("the accuracy search needs inputs; give calibration data (a cache alone has none)") }
            // Judged where the written model runs (float16 layers beside int8 ones with --rest fp16).
            var made = try QuantizationSearch(float32: float32, ranges: ranges, options: options, runtime: written, feeds: validation)
            if guards {
                let judge = AccuracyGuard.shaped(reference: made.reference[0], feed: validation[0])
                (made.judge, target) = (judge, judge.target)
                report.accuracyGuard = judge.description
                if choosesCalibrator && !measuredValues.isEmpty {
                    let chosen = try chooseCalibrator(&made, target: target, start: (method, plan, ranges), values: measuredValues, histograms: histograms, graph: model.graph)
                    (method, plan, ranges) = (chosen.method, chosen.plan, chosen.ranges)
                    report.method = "\(method)"
                    report.notes.append(chosen.note)
                }
            }
            search = made
        }
        // Before the search, which may refuse to write the model: the cache stands on its own.
        if let writeCache {
            // Ranges exist only for float32 values (measured ones, or a cache checked against the model).
            let entries = ranges.sorted { $0.key < $1.key }.map { (name: $0.key, range: $0.value) }
            try FileBytes.writeAtomically(Data(CalibrationCache(method: method, ranges: entries, version: cacheVersion).text.utf8), to: writeCache)
            if !options.symmetric { report.warnings.append("the TensorRT cache holds symmetric ranges (±amax); the model's asymmetric ranges were written as their largest magnitude") }
        }
        if var search {
            let labels = Dictionary(plan.keyOf.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
            var (layers, outcome) = try search.run(plan: plan, target: target) { labels[$0] ?? $0 }
            outcome.heldBack = heldBack != nil
            let effects = Dictionary(outcome.effects.map { ($0.node, $0.relativeL2) }, uniquingKeysWith: { a, _ in a })
            let wanted = guards ? "the accuracy guard's target: \(report.accuracyGuard ?? "")"
                : [accuracyTarget.map { "target \(NumberText.scientific($0))" }, agreementTarget.map { "argmax agreement \(NumberText.fixed(100 * $0, 2)) % wanted" }]
                .compactMap { $0 }.joined(separator: ", ")
            plan = plan.restricted(to: layers, graph: model.graph, ranges: ranges) { node in
                "accuracy search: alone in int8 it moves the outputs by relative L2 \(NumberText.scientific(effects[node] ?? 0)) (\(wanted))"
            }
            report.search = outcome
            if layers.isEmpty, let least = outcome.effects.last {
                let reached = [outcome.boxesBefore.map { "all int8 kept \(NumberText.fixed(100 * $0, 1)) % of the boxes" },
                               outcome.agreementBefore.map { "all int8 kept the class on \(NumberText.fixed(100 * $0, 1)) %" }].compactMap { $0 }
                throw PrecisionError.accuracyNotMet("no layer can run in int8 within \(wanted) on \(outcome.samples) \(outcome.heldBack ? "held-back " : "")sample(s): "
                    + (reached.isEmpty ? "" : reached.joined(separator: ", ") + "; ")
                    + "the least harmful layer, \(least.node), alone moves the outputs by \(NumberText.scientific(least.relativeL2)) (\(outcome.runs) model runs); "
                    + "nothing was written (calibrate on more pictures like the ones it will see, try --calibrator minmax, or give --no-accuracy-guard to write it anyway)")
            }
        }
        let quantized = try rewriteUntilItRuns(&plan, prepared: model, float32: float32, ranges: ranges, feed: first, report: &report)
        report.decisions = plan.decisions
        report.passThroughNodes = plan.passThrough.count
        report.int8Ops = plan.int8Ops.count
        for d in plan.decisions where d.quantized { report.quantizedByOpType[d.opType, default: 0] += 1 }
        report.bytesAfter = quantized.tensorDataBytes
        clock.lap("quantize")
        try quantized.save(to: output)
        clock.lap("save")
        return QuantizationOutcome(report: report, stages: clock.laps, input: input, output: output, float32: float32, feed: first)
    }

    /// Each measured value's range under `method`.
    static func ranges(_ values: [String: ActivationStatistics.Value], method: CalibrationMethod, symmetric: Bool) -> [String: TensorRange] {
        values.mapValues { Calibrator.range(of: $0, method: method, symmetric: symmetric) }
    }

    /// Writes `plan` into `model`, a fresh copy of the prepared float32 model: the QDQ rewrite,
    /// then with `--rest fp16` the float layers in float16 (`keptFloat32` stay float32). The
    /// search's candidates and the written model are made by this one step.
    static func write(_ plan: QuantizationPlan, into model: Model, options: QuantizationOptions, keptFloat32: [String: String] = [:],
                      owners: inout [String: Set<String>]) throws -> (rewrite: QDQRewrite.Result, restNote: String?) {
        // The nodes that compute in int8, as objects: the rewrite renames their outputs.
        let int8Nodes = model.graph.nodes.filter(plan.runsInInt8)
        let rewrite = try QDQRewrite.apply(plan, to: model, options: options, owners: &owners)
        let note = options.rest == .float16 ? try narrowRest(of: model, int8Nodes: int8Nodes, kept: keptFloat32) : nil
        return (rewrite, note)
    }

    /// `--rest fp16`: the float layers go to float16 with the FP16 conversion's own rules; the
    /// Q/DQ pairs, the int8 layers between them and the data movement on int8 stay as they are
    /// (the runtime fuses DequantizeLinear → layer → QuantizeLinear only in float32).
    /// `kept`: float nodes (by key) that stay float32, with why.
    static func narrowRest(of model: Model, int8Nodes: [Node], kept: [String: String] = [:]) throws -> String {
        var options = ConversionOptions(target: .float16)
        options.blockedOpTypes += [NamePattern("QuantizeLinear"), NamePattern("DequantizeLinear")]
        options.keptNodes = kept
        for node in int8Nodes { if let key = node.outputs.first { options.keptNodes[key] = "int8 layer" } }
        let report = try ModelConversion.convert(model, options: options)
        return "note: --rest fp16: \(report.convertedNodes) float layer(s) converted to float16, \(report.castsInserted) Cast(s) at the int8 boundaries"
    }

    /// Where the written model runs for its run check and `--check`: the evaluation target, set
    /// for float16 layers beside int8 ones where the model has them.
    var written: ExecutionTarget {
        options.rest == .float16 ? evaluation.adapted(to: .float16BesideInt8).target : evaluation
    }

    /// Where int8 candidates are judged: with 8-bit weights, the backend set to compute the
    /// model's own Q/DQ arithmetic (a CPU backend's fused int8 kernels may saturate where a CPU
    /// with int8 dot products or TensorRT does not).
    var evaluation: ExecutionTarget {
        options.reduceRange ? runtime : runtime.adapted(to: .fullRangeInt8Weights).target
    }

    /// The quantized model against float32 (the prepared model: BatchNorm folded, same inputs) on
    /// the first calibration batch, output by output under the gate; nil when no check was asked for.
    public func check(_ outcome: QuantizationOutcome) throws -> CheckResult? {
        guard let check else { return nil }
        guard let feed = outcome.feed else { throw PrecisionError.badOption("the check needs inputs; give calibration data (a cache alone has none)") }
        let candidate = written
        let a = try runtime.session(.file(outcome.input)), b = try candidate.session(.file(outcome.output))
        let entries = try ModelComparison.outputs(reference: a, candidate: b, feeds: feed, tolerance: check.tolerance)
        let (verdicts, passed) = check.gate.verdicts(entries)
        return CheckResult(reference: outcome.input, candidate: outcome.output, gate: check.gate, entries: entries, verdicts: verdicts, passed: passed)
    }
}

/// What a quantization job did: the report, where the time went, and what its check needs.
public struct QuantizationOutcome {
    public var report: QuantizationReport
    public var stages: [(name: String, milliseconds: Double)]
    let input: String
    let output: String
    let float32: Data
    let feed: [String: Tensor]?
}
