import FoundationEssentials
import Inference
import ONNX
import Tensors

extension QuantizationJob {
    /// The plan written into a copy of the prepared float32 model (`prepared`, `float32` its
    /// bytes), validated, then run once where it goes (the run check, unless `--no-run-check`).
    /// Each node the backend refuses goes back to float by the name the backend gives, and the
    /// rewrite is repeated until the model runs: an int8 node with the pairs, weights and biases
    /// around it (`QDQRewrite`'s owners), or, with `--rest fp16`, a float16 node to float32. A
    /// refusal that names nothing we can send back is an error naming the node: nothing is written.
    func rewriteUntilItRuns(_ plan: inout QuantizationPlan, prepared: Model, float32: Data, ranges: [String: TensorRange],
                            feed: [String: Tensor]?, report: inout QuantizationReport) throws -> Model {
        let run = runCheck ? try runCheckInputs(float32: float32, feed: feed) : nil
        let target = written
        // Float nodes of `--rest fp16` the backend refused in float16, by key.
        var keptFloat32: [String: String] = [:]
        var sentBack: [String] = []
        for attempt in 0... {
            guard plan.quantizedCount > 0 else {
                throw PrecisionError.notConvertible("no layer could be quantized: " + Set(plan.decisions.compactMap(\.reason)).sorted().prefix(3).joined(separator: "; "))
            }
            let model = Model(proto: try Model.decode(float32, path: "<prepared model>"))
            var owners: [String: Set<String>] = [:]
            let restNote: String?
            (report.rewrite, restNote) = try Self.write(plan, into: model, options: options, keptFloat32: keptFloat32, owners: &owners)
            if let failure = ModelConversion.validationFailure(model) { throw failure }
            let refused = run.flatMap { BackendProbe.probe(model, on: target, feed: $0.inputs) }
            guard let refused else {
                report.notes += [restNote].compactMap { $0 }
                if options.rest == .float16, let note = runtime.adapted(to: .float16BesideInt8).note { report.warnings.append(note) }
                report.warnings += sentBack
                if let run { report.runCheck = "ran once in \(target.backend.name) on \(run.source)" + (sentBack.isEmpty ? "" : " after \(sentBack.count) node(s) went back to float") }
                return model
            }
            let refusal = target.backend.refusal(in: refused)
            let why = "\(target.backend.name) refused it on the quantized model's first run: \(refusal?.message.prefix(200) ?? "")"
            if attempt < 64, let name = refusal?.nodeName, !name.isEmpty, let node = model.graph.nodes.first(where: { $0.name == name }) {
                if let keys = owners[name], !keys.isEmpty {
                    plan = plan.sendingBack(keys, graph: prepared.graph, ranges: ranges, reason: why)
                    let layers = keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
                    sentBack.append("\(node.opType) '\(name)' refused: the int8 node(s) it belongs to (\(layers)) went back to float: \(why)")
                    continue
                }
                if options.rest == .float16, !["QuantizeLinear", "DequantizeLinear"].contains(node.opType),
                   let key = node.outputs.first(where: { !$0.isEmpty }), keptFloat32[key] == nil {
                    keptFloat32[key] = why
                    sentBack.append("\(node.opType) '\(name)' kept in float32: \(why)")
                    continue
                }
            }
            let named = refusal.map { "\($0.opType ?? "a node")\($0.nodeName.map { " '\($0)'" } ?? "")" } ?? "the model"
            throw PrecisionError.notConvertible("\(target.backend.name) refuses \(named) of the quantized model on its first run: \(refusal?.message ?? "\(refused)"); "
                + "nothing was written (keep that layer in float with --exclude-node, or give --no-run-check to write the model anyway)")
        }
        fatalError("unreachable")
    }

    /// What the run check feeds the quantized model: the first calibration batch, else random
    /// inputs the float32 model runs on; nil when neither can be had (the model is then not run).
    func runCheckInputs(float32: Data, feed: [String: Tensor]?) throws -> (inputs: [String: Tensor], source: String)? {
        if let feed { return (feed, "the first calibration batch") }
        let original = Model(proto: try Model.decode(float32, path: "<float32 model>"))
        switch RunCheckInputs(model: original, given: [:]).feed(runningOn: runtime, float32: float32) {
        case .success(let made): return (made.feed, "random inputs (\(made.shapes))")
        case .failure: return nil
        }
    }
}
