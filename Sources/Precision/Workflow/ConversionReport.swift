/// Everything a conversion decided, for `--report report.json` and the printed summary.
public struct ConversionReport: Sendable, Codable {
    public struct KeptNode: Sendable, Codable, Equatable {
        public var node: String
        public var opType: String
        /// Which graph ("main" or the path of a subgraph).
        public var graph: String
        public var reason: String
    }
    /// An input kept in float32 although its node was converted (Resize's scales, constants a
    /// normalisation must see exactly).
    public struct KeptInput: Sendable, Codable, Equatable {
        public var node: String
        public var input: Int
        public var value: String
        public var reason: String
    }

    public var target: String
    /// Computing nodes (Constant nodes are counted with the constants).
    public var nodes = 0
    public var convertedNodes = 0
    /// Converted nodes per op type.
    public var convertedByOpType: [String: Int] = [:]
    public var keptNodes: [KeptNode] = []
    public var keptInputs: [KeptInput] = []
    /// Nodes that never touch float32 (integer and shape computations): left as they are.
    public var untouchedNodes = 0
    public var castsInserted = 0
    /// Casts that became identities or dead after conversion (the model's own included).
    public var castsRemoved = 0
    public var constantsConverted = 0
    /// Constants needed in both types (a converted and a kept consumer): a second copy was added.
    public var constantsDuplicated = 0
    public var clamps: [ConstantClamp] = []
    public var batchNormFolded: [String] = []
    public var constantCastsFolded = 0
    /// Attributes rewritten from FLOAT to the target type (Cast `to`, `dtype`, ConstantOfShape `value`).
    public var attributesRewritten: [String] = []
    public var warnings: [String] = []
    public var range: RangeSummary?
    /// The mixed-precision search (`--to mixed`), when run.
    public var mixed: MixedPrecisionSearch.Outcome?
    /// How the result was run before it was written (nil: it was not run).
    public var runCheck: String?
    public var bytesBefore = 0
    public var bytesAfter = 0

    public init(target: String) { self.target = target }

    /// How the range analysis ran and what it found.
    public struct RangeSummary: Sendable, Codable {
        public var source: String
        public var threshold: Double
        public var measuredValues = 0
        public var largestAbs = 0.0
        public var largestValue = ""
        public var keptNodes = 0

        public init(source: String, threshold: Double, measuredValues: Int, largestAbs: Double, largestValue: String, keptNodes: Int) {
            self.source = source
            self.threshold = threshold
            self.measuredValues = measuredValues
            self.largestAbs = largestAbs
            self.largestValue = largestValue
            self.keptNodes = keptNodes
        }
    }

    /// Readable lines for the terminal.
    public func summary() -> [String] {
        var lines: [String] = []
        lines.append("converted \(convertedNodes) of \(nodes) nodes to \(target); kept \(keptNodes.count) in float32; \(untouchedNodes) compute on integers/shapes only")
        if !convertedByOpType.isEmpty {
            let ops = convertedByOpType.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            lines.append("  converted: " + ops.prefix(12).map { "\($0.key) \($0.value)" }.joined(separator: ", ") + (ops.count > 12 ? ", …" : ""))
        }
        if !batchNormFolded.isEmpty { lines.append("  folded \(batchNormFolded.count) BatchNormalization node(s) into the layer before them (float64)") }
        if constantCastsFolded > 0 { lines.append("  folded \(constantCastsFolded) Cast(s) of constants") }
        // Range decisions carry their magnitudes: grouped under one heading, each node with its figure.
        let byReason = Dictionary(grouping: keptNodes) { n -> String in
            n.reason.hasPrefix("range analysis:") ? "range analysis" : n.reason.hasPrefix("mixed precision:") ? "mixed-precision search (each one's effect in the JSON report)" : n.reason
        }
        for (reason, nodes) in byReason.sorted(by: { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }) {
            let names = nodes.prefix(4).map { n in
                reason == "range analysis" ? "\(n.node) (\(String(n.reason.dropFirst("range analysis: ".count).prefix { $0 != "(" }.dropLast())))" : n.node
            }.joined(separator: ", ")
            lines.append("  kept float32 (\(nodes.count)): \(reason): \(names)\(nodes.count > 4 ? ", …" : "")")
        }
        let inputsByReason = Dictionary(grouping: keptInputs, by: \.reason)
        for (reason, inputs) in inputsByReason.sorted(by: { $0.key < $1.key }) {
            let names = inputs.prefix(3).map { "input \($0.input) of \($0.node)" }.joined(separator: ", ")
            lines.append("  kept float32 inputs (\(inputs.count)): \(reason): \(names)\(inputs.count > 3 ? ", …" : "")")
        }
        lines.append("  casts: \(castsInserted) inserted, \(castsRemoved) removed; constants: \(constantsConverted) converted, \(constantsDuplicated) kept in both types")
        if !attributesRewritten.isEmpty { lines.append("  type attributes rewritten: " + attributesRewritten.prefix(6).joined(separator: ", ") + (attributesRewritten.count > 6 ? ", …" : "")) }
        if !clamps.isEmpty {
            let over = clamps.reduce(0) { $0 + $1.overflow }, tiny = clamps.reduce(0) { $0 + $1.tiny }
            lines.append("  clamped \(clamps.count) constant(s): \(over) value(s) beyond the \(target) range, \(tiny) tiny non-zero value(s)")
        }
        for c in clamps.sorted(by: { $0.overflow != $1.overflow ? $0.overflow > $1.overflow : $0.tiny > $1.tiny }).prefix(4) {
            var what: [String] = []
            if c.overflow > 0 { what.append("\(c.overflow) value(s) beyond the \(target) range (largest |x| \(shortNumber(c.largestAbs)))") }
            if c.tiny > 0 { what.append("\(c.tiny) tiny non-zero value(s)") }
            lines.append("    '\(c.tensor)': " + what.joined(separator: ", "))
        }
        if clamps.count > 4 { lines.append("  … and \(clamps.count - 4) more (all in the JSON report)") }
        if let range {
            lines.append("  range analysis (\(range.source)): \(range.measuredValues) values measured, largest |x| \(shortNumber(range.largestAbs)) at '\(range.largestValue)'; threshold \(shortNumber(range.threshold)); \(range.keptNodes) node(s) kept")
        }
        if let mixed {
            lines.append("  mixed precision: worst output relative L2 with every node in \(target) \(shortNumber(mixed.errorAllFloat16)), after the search \(shortNumber(mixed.errorAfter))"
                + " (bound \(shortNumber(mixed.maxRelativeL2))\(mixed.elementwise.map { ", rtol \($0.rtol) / atol \($0.atol) elementwise" } ?? "")); \(mixed.runs) model run(s), \(mixed.keptNodes.count) node(s) sent back to float32")
        }
        if let runCheck { lines.append("  run check: \(runCheck)") }
        lines.append("  size: \(megabytes(bytesBefore)) → \(megabytes(bytesAfter))")
        for w in warnings { lines.append("warning: \(w)") }
        return lines
    }
}

func shortNumber(_ v: Double) -> String {
    if v == 0 { return "0" }
    if abs(v) >= 1e5 || abs(v) < 1e-3 {
        var exponent = 0
        var m = abs(v)
        while m >= 10 { m /= 10; exponent += 1 }
        while m < 1 { m *= 10; exponent -= 1 }
        let mantissa = (m * 100).rounded() / 100
        return "\(v < 0 ? "-" : "")\(mantissa)e\(exponent)"
    }
    return String((v * 1000).rounded() / 1000)
}

func megabytes(_ bytes: Int) -> String {
    let mb = Double(bytes) / 1e6
    return mb >= 10 ? "\(Int(mb.rounded())) MB" : "\((mb * 100).rounded() / 100) MB"
}
