import FoundationEssentials
import ONNX
import Tensors

/// Converts, then asks the runtime that will run the model whether it accepts it; when it refuses
/// (ONNX Runtime's CPU provider expands Attention or RMSNormalization into function bodies that
/// mix float16 and float32), the op type responsible is kept in float32 and the conversion redone,
/// and the report says so. Op types named in the runtime's message are tried first, then each
/// converted op type alone; the model stays float32 nowhere else.
public enum RuntimeCompatibility {
    public struct Outcome {
        public var model: Model
        public var report: ConversionReport
    }

    /// `prepared`: the float32 model after `ModelConversion.prepare` (serialized, so every attempt
    /// starts from the same graph). `probe` returns nil when the runtime accepts the model, else
    /// its message.
    public static func convert(prepared: Data, report: ConversionReport, options base: ConversionOptions,
                               probe: (Model) -> String?) throws -> Outcome {
        var blocked: [String] = []
        var lastMessage = ""
        var candidates: [String]?
        var tried = Set<String>()
        while true {
            let model = Model(proto: try decode(prepared))
            var options = base
            options.blockedOpTypes += blocked.map(NamePattern.init)
            var result = try ModelConversion.convert(model, options: options, prepared: report)
            guard let message = probe(model) else {
                for op in blocked {
                    result.warnings.append("\(op) kept in float32: the runtime refused it in \(options.target.name) (\(lastMessage.prefix(200)))")
                }
                return Outcome(model: model, report: result)
            }
            if candidates == nil {
                lastMessage = message
                // Op types the message names first, then every converted op type, rarest first.
                let converted = result.convertedByOpType.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }.map(\.key)
                let named = converted.filter { op in ["(\(op))", " \(op) ", "\(op)("].contains { includes(message, $0) } }
                candidates = named + converted.filter { !named.contains($0) }
            } else if let last = blocked.last {
                blocked.removeLast()  // that one alone did not help
                tried.insert(last)
            }
            guard let next = candidates?.first(where: { !tried.contains($0) && !blocked.contains($0) }) else {
                throw PrecisionError.notConvertible("the runtime refuses the converted model, and keeping any single op type in float32 does not help: \(lastMessage)")
            }
            blocked.append(next)
        }
    }

    private static func decode(_ data: Data) throws -> Onnx_ModelProto {
        try Model.decode(data, path: "<prepared model>")
    }
}

/// Substring test with the standard library's collection search (`String.contains(String)`
/// resolves to Foundation's, which the static binary does not link).
func includes(_ text: String, _ needle: String) -> Bool {
    text.utf8.firstRange(of: needle.utf8) != nil
}
