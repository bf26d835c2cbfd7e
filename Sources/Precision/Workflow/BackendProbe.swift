import FoundationEssentials
import Inference
import ONNX
import Tensors

/// The conversion with the backend's word on the result: it loads the converted model (and runs it
/// once on a feed, where a node's support depends on run-time shapes), and each node it refuses
/// goes back to float32 by name, read from the refusal by the backend itself. A refusal the backend
/// cannot read (another ONNX Runtime version's wording, a function body's inner node) falls back to
/// trying op types: those the message names first, then each converted op type, rarest first.
public enum BackendProbe {
    /// Converts from `prepared`, the float32 model's bytes after `ModelConversion.prepare`, until the
    /// backend takes the result.
    ///
    /// - Parameters:
    ///   - feed: inputs to run the converted model on once (nil: loading it is the test).
    ///   - suspects: nodes (by key, the first output) whose support only a run decides, with the
    ///     backend's reason; a refusal that names an op but no node sends those of that op back first.
    public static func convert(prepared float32: Data, report base: ConversionReport, options start: ConversionOptions,
                               on runtime: ExecutionTarget, feed: [String: Tensor]? = nil,
                               suspects: [String: String] = [:]) throws -> (Model, ConversionReport) {
        var options = start
        var notes: [String] = []
        var search: OpTypeSearch?
        for attempt in 0... {
            let model = Model(proto: try Model.decode(float32, path: "<prepared model>"))
            var report = try ModelConversion.convert(model, options: options, prepared: base)
            guard let failure = probe(model, on: runtime, feed: feed) else {
                if let search, let op = search.current {
                    notes.append("\(op) kept in float32: \(runtime.backend.name) refused the model in \(options.target.name) (\(search.message.prefix(200)))")
                }
                report.warnings += notes
                return (model, report)
            }
            guard attempt < 64 else {
                throw PrecisionError.notConvertible("\(runtime.backend.name) still refuses the converted model after 64 attempts: \(String(describing: failure).prefix(300))")
            }
            if let refusal = runtime.backend.refusal(in: failure), search == nil,
               let note = sendBack(refusal, in: model, options: &options, suspects: suspects, backend: runtime.backend.name) {
                notes.append(note)
                continue
            }
            // Unreadable, or reading it did not help: one op type at a time back to float32.
            if search == nil { search = OpTypeSearch(message: "\(failure)", report: report) }
            if let tried = search!.current { options.blockedOpTypes.removeAll { $0.text == tried } }
            guard let next = search!.advance() else {
                throw PrecisionError.notConvertible("\(runtime.backend.name) refuses the converted model, and keeping any single op type in float32 does not help: \(search!.message.prefix(300))")
            }
            options.blockedOpTypes.append(NamePattern(next))
        }
        fatalError("unreachable")
    }

    /// Sends the refused node (or the suspects of its op, or its op type) back to float32; nil when
    /// nothing is left to send back for it.
    static func sendBack(_ refusal: NodeRefusal, in model: Model, options: inout ConversionOptions, suspects: [String: String], backend: String) -> String? {
        let why = "\(backend) refused it in \(options.target.name): \(refusal.message.prefix(200))"
        if let name = refusal.nodeName, !name.isEmpty, let node = model.graph.nodes.first(where: { $0.name == name }),
           let key = node.outputs.first(where: { !$0.isEmpty }), options.keptNodes[key] == nil {
            options.keptNodes[key] = why
            return "\(node.opType) '\(name)' kept in float32: \(why)"
        }
        guard let op = refusal.opType else { return nil }
        let named = model.graph.nodes.filter { $0.opType == op }.compactMap { $0.outputs.first { !$0.isEmpty } }
            .filter { suspects[$0] != nil && options.keptNodes[$0] == nil }
        if !named.isEmpty {
            for key in named { options.keptNodes[key] = "\(suspects[key]!); \(why)" }
            return "\(named.count) \(op) node(s) kept in float32: \(why)"
        }
        guard !options.blockedOpTypes.contains(where: { $0.matches(op) }) else { return nil }
        options.blockedOpTypes.append(NamePattern(op))
        return "\(op) kept in float32: \(why)"
    }

    /// nil when the backend takes `model` (and runs it on `feed`, if given); else the failure.
    static func probe(_ model: Model, on runtime: ExecutionTarget, feed: [String: Tensor]?) -> (any Error)? {
        do {
            let session = try runtime.session(.bytes(try model.serialized(), name: "converted model"))
            if let feed { _ = try session.run(try ModelComparison.converted(feed, for: session.inputs)) }
            return nil
        } catch {
            return error
        }
    }

    /// The op types to try, one at a time: those the message names, then every converted op type,
    /// rarest first.
    struct OpTypeSearch {
        let message: String
        private var candidates: [String]
        private(set) var current: String?

        init(message: String, report: ConversionReport) {
            self.message = message
            let converted = report.convertedByOpType.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }.map(\.key)
            let named = converted.filter { op in ["(\(op))", " \(op) ", "\(op)("].contains { includes(message, $0) } }
            candidates = named + converted.filter { !named.contains($0) }
        }

        mutating func advance() -> String? {
            current = candidates.isEmpty ? nil : candidates.removeFirst()
            return current
        }
    }
}

/// Substring test with the standard library's collection search (`String.contains(String)`
/// resolves to Foundation's, which the static binary does not link).
func includes(_ text: String, _ needle: String) -> Bool {
    text.utf8.firstRange(of: needle.utf8) != nil
}
