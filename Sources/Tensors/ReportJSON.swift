import FoundationEssentials

/// How every command writes its reports as JSON: pretty, keys sorted, slashes as they are, and
/// the infinities a comparison can produce (PSNR of equal tensors) spelled out, since JSON has none.
/// `line` is the same on one line (what benchmarks and scripts read as the last line of output).
public enum ReportJSON {
    public static func data<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(value)
    }

    public static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try data(value), as: UTF8.self)
    }

    public static func line<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try data(value, pretty: false), as: UTF8.self)
    }
}
