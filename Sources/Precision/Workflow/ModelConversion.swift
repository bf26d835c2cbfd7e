import ONNX
import Tensors

/// The whole FP16/BF16 conversion of a model, in order: float32-side simplifications (BatchNorm
/// folding, Casts of constants), the conversion pass, Cast clean-up, sorting and validation. The
/// model is rewritten in place; the caller saves it.
public enum ModelConversion {
    /// Rewrites `model` as `options` say and returns the report. Range decisions and kept nodes come
    /// in through `options.keptNodes` (see `RangeAnalysis.decisions`), computed on the same `model`
    /// after `prepare`. Without `prepared`, the model is prepared here, and since nothing reads the
    /// float32 model in between, folded weights are scaled while they are narrowed (one pass over
    /// them instead of two, and no float32 copy).
    ///
    /// `validating: false` leaves the validator's check of the result to the caller
    /// (`validationFailure`), who may run it beside the save and must not keep an invalid model.
    public static func convert(_ model: Model, options: ConversionOptions, prepared: ConversionReport? = nil,
                               validating: Bool = true) throws -> ConversionReport {
        guard options.target == .float16 || options.target == .bfloat16 else {
            throw PrecisionError.badOption("--to \(options.target.name): convert makes float16 or bfloat16 models")
        }
        let pending = PendingScales()
        var report = try prepared ?? prepare(model, options: options, deferring: pending)
        let hadCasts = model.allGraphs.contains { $0.nodes.contains { $0.opType == "Cast" } }
        var pass = LowPrecisionPass(model: model, options: options, report: report, pending: pending)
        try pass.run()
        // Every pending weight is narrowed or scaled by the pass; one left would be unscaled data.
        guard pending.isEmpty else {
            throw PrecisionError.notConvertible("folded weights \(pending.byName.keys.sorted().prefix(3)) were not scaled (a HalfPipe bug; please report it with the model)")
        }
        report = pass.report
        // The pass inserts no Cast that is an identity or unread; only a model's own Casts can become so.
        if hadCasts { report.castsRemoved = CastCleanup.run(model) }
        for graph in model.allGraphs { UnusedConstants.remove(from: graph) }
        try TopologicalSort.sort(model.graph)
        if validating, let failure = validationFailure(model) { throw failure }
        report.bytesAfter = model.tensorDataBytes
        return report
    }

    /// Our validator's verdict on a converted model: nil when valid. Only reads the model.
    public static func validationFailure(_ model: Model) -> PrecisionError? {
        let issues = Validator.validate(model)
        guard !issues.isEmpty else { return nil }
        return PrecisionError.notConvertible("the converted graph failed validation (a HalfPipe bug; please report it with the model): "
            + issues.prefix(5).map(\.description).joined(separator: "; "))
    }

    /// The float32-side passes, run before range analysis so it measures the graph that gets
    /// converted. Refuses models with nothing to convert.
    public static func prepare(_ model: Model, options: ConversionOptions) throws -> ConversionReport {
        try prepare(model, options: options, deferring: nil)
    }

    /// With `deferring`, BatchNorm folding leaves the main graph's new weights for the conversion
    /// to scale (see `PendingScales`): the model is then not a valid float32 model until converted.
    static func prepare(_ model: Model, options: ConversionOptions, deferring pending: PendingScales?) throws -> ConversionReport {
        var report = ConversionReport(target: options.target.name)
        report.bytesBefore = model.tensorDataBytes
        try checkConvertible(model, target: options.target)
        if model.irVersion < 4 {
            // Below IR 4 every initializer is also listed as an input, and ONNX Runtime treats them as
            // constants there. Unlisting them (IR 4) lets them be folded and narrowed like weights.
            var unlisted = 0
            for graph in model.allGraphs {
                let weights = Set(graph.initializers.map(\.name))
                unlisted += graph.inputs.filter { weights.contains($0.name) }.count
                graph.inputs.removeAll { weights.contains($0.name) }
            }
            model.proto.irVersion = 4
            if unlisted > 0 { report.warnings.append("note: IR version 3 model: \(unlisted) initializer(s) no longer listed as inputs (now IR 4), so they convert as constants") }
        }
        if options.foldBatchNorm { report.batchNormFolded = BatchNormFolding.apply(to: model, deferring: pending).map(\.batchNorm) }
        if options.foldConstantCasts { report.constantCastsFolded = ConstantCastFolding.apply(to: model) }
        for graph in model.allGraphs { UnusedConstants.remove(from: graph) }
        // Constant nodes are data, reported with the constants: the node count is of computing nodes.
        report.nodes = model.allGraphs.reduce(0) { $0 + $1.nodes.filter { $0.opType != "Constant" }.count }
        return report
    }

    /// A model with no float32 tensor cannot be converted; one already in the target type is named as such.
    static func checkConvertible(_ model: Model, target: DType) throws {
        // Declared float32 data (an input, initializer, Constant or declaration) settles it without
        // running type inference over the whole model.
        let float32 = DType.float32.rawValue
        for graph in model.allGraphs {
            if (graph.inputs + graph.outputs + graph.valueInfo).contains(where: { $0.elementType == .float32 })
                || graph.initializers.contains(where: { $0.proto.dataType == float32 })
                || graph.nodes.contains(where: { $0.opType == "Constant" && $0[attribute: "value"]?.tensor?.dataType == float32 }) {
                return
            }
        }
        let inference = TypeInference(model)
        var seen = Set<DType>()
        for graph in model.allGraphs { seen.formUnion(inference.types(in: graph).values) }
        guard seen.contains(.float32) else {
            if seen.contains(target) {
                throw PrecisionError.notConvertible("the model is already \(target.name): it has no float32 tensors to convert")
            }
            let floats = seen.filter(\.isFloatingPoint).map(\.name).sorted()
            throw PrecisionError.notConvertible("the model has no float32 tensors to convert" + (floats.isEmpty ? " (it computes on integers only)" : " (its float types: \(floats.joined(separator: ", ")))"))
        }
    }
}
