import FoundationEssentials
import Inference
import ONNX
import Tensors

/// The conversion with the backend's word on the result: it loads the converted model (and runs it
/// once on a feed, where a node's support depends on run-time shapes), and each node it refuses
/// goes back to float32 by name — read from the refusal by the backend itself, never guessed from
/// message text here.
public enum BackendProbe {
    /// Converts from `prepared`, the float32 model's bytes after `ModelConversion.prepare`, asks the backend to load the result (and run it on
    /// `feed` when nodes wait on a run), and sends each node it refuses back to float32, until it
    /// takes the model. Refusals that name no node keep their op type in float32.
    /// `suspects`: nodes (by key, the first output) whose support only a run decides, with the
    /// backend's reason; a refusal that names an op but no node sends those of that op back first.
    public static func convert(prepared float32: Data, report base: ConversionReport, options start: ConversionOptions,
                               on runtime: ExecutionTarget, feed: [String: Tensor]? = nil,
                               suspects: [String: String] = [:]) throws -> (Model, ConversionReport) {
        var options = start
        var refusals: [String] = []
        for attempt in 0... {
            let model = Model(proto: try Model.decode(float32, path: "<prepared model>"))
            var report = try ModelConversion.convert(model, options: options, prepared: base)
            guard let refusal = try probe(model, on: runtime, feed: feed) else {
                report.warnings += refusals
                return (model, report)
            }
            guard attempt < 64 else {
                throw PrecisionError.notConvertible("\(runtime.backend.name) still refuses the converted model after 64 nodes went back to float32: \(refusal)")
            }
            let why = "\(runtime.backend.name) refused it in \(options.target.name): \(refusal.message.prefix(200))"
            if let name = refusal.nodeName, !name.isEmpty, let node = model.graph.nodes.first(where: { $0.name == name }),
               let key = node.outputs.first(where: { !$0.isEmpty }), options.keptNodes[key] == nil {
                options.keptNodes[key] = why
                refusals.append("\(node.opType) '\(name)' kept in float32: \(why)")
            } else if let op = refusal.opType,
                      case let named = model.graph.nodes.filter({ $0.opType == op }).compactMap({ $0.outputs.first { !$0.isEmpty } })
                        .filter({ suspects[$0] != nil && options.keptNodes[$0] == nil }), !named.isEmpty {
                for key in named { options.keptNodes[key] = "\(suspects[key]!); \(why)" }
                refusals.append("\(named.count) \(op) node(s) kept in float32: \(why)")
            } else if let op = refusal.opType, !options.blockedOpTypes.contains(where: { $0.matches(op) }) {
                options.blockedOpTypes.append(NamePattern(op))
                refusals.append("\(op) kept in float32: \(why)")
            } else {
                throw PrecisionError.notConvertible("\(runtime.backend.name) refuses the converted model, and keeping the node it names in float32 does not help: \(refusal)")
            }
        }
        fatalError("unreachable")
    }

    /// nil when the backend takes `model` (and runs it on `feed`, if given); else its refusal.
    static func probe(_ model: Model, on runtime: ExecutionTarget, feed: [String: Tensor]?) throws -> NodeRefusal? {
        do {
            let session = try runtime.session(.bytes(try model.serialized(), name: "converted model"))
            if let feed { _ = try session.run(try ModelComparison.converted(feed, for: session.inputs)) }
            return nil
        } catch {
            guard let refusal = runtime.backend.refusal(in: error) else {
                throw PrecisionError.notConvertible("\(runtime.backend.name) cannot run the converted model: \(error)")
            }
            return refusal
        }
    }

}
