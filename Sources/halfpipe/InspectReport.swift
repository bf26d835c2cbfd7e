import ONNX

/// The human-readable form of a `ModelSummary`: aligned tables, largest things first.
struct InspectReport {
    let text: String

    init(_ s: ModelSummary, top: Int) {
        var lines: [String] = []
        lines.append("model      \(s.path)")
        lines.append("producer   \(s.producer.isEmpty ? "-" : s.producer)   IR \(s.irVersion)   opsets " +
                     s.opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", "))
        lines.append("nodes      \(s.nodes)" + (s.nodesIncludingSubgraphs != s.nodes ? " (\(s.nodesIncludingSubgraphs) with subgraphs)" : ""))
        lines.append("parameters \(Self.grouped(s.parameters)) (\(Self.bytes(s.parameterBytes)))")
        lines.append("")
        lines.append(contentsOf: Self.table(["input", "type", "shape"], s.inputs.map { [$0.name, $0.type, Self.shape($0.shape)] }))
        lines.append("")
        lines.append(contentsOf: Self.table(["output", "type", "shape"], s.outputs.map { [$0.name, $0.type, Self.shape($0.shape)] }))
        lines.append("")
        lines.append(contentsOf: Self.table(["parameters by type", "tensors", "elements", "bytes"],
                                            s.parametersByType.map { [$0.elementType, String($0.tensors), Self.grouped($0.elements), Self.bytes($0.bytes)] }))
        lines.append("")
        var ops = s.ops.prefix(top).map { [$0.op, String($0.count)] }
        if s.ops.count > top { ops.append(["… \(s.ops.count - top) more op types", ""]) }
        lines.append(contentsOf: Self.table(["op", "count"], ops))
        lines.append("")
        lines.append(contentsOf: Self.risks(s.risks))
        text = lines.joined(separator: "\n")
    }

    private static func risks(_ r: FP16Risks) -> [String] {
        if r.isEmpty { return ["FP16 risks: none found (largest |constant| \(format(r.largestAbs)))"] }
        var lines = ["FP16 risks (largest |constant| \(format(r.largestAbs))):"]
        func rows(_ title: String, _ risks: [FP16Risks.TensorRisk]) {
            guard !risks.isEmpty else { return }
            lines.append("")
            lines.append(contentsOf: table([title, "values", "max |x|", "used by"], risks.map {
                [$0.tensor, String($0.count), format($0.largestAbs), Array(Set($0.consumers)).sorted().joined(separator: ",")]
            }))
        }
        rows("beyond ±65504 (become ±Inf)", r.overflow)
        rows("non-zero below 6.0e-8 (flush to 0)", r.underflow)
        rows("integers > 2048 not exact in FP16", r.inexactIntegers)
        if !r.integerCasts.isEmpty {
            lines.append("")
            lines.append(contentsOf: table(["integer→float Cast feeding arithmetic", "from", "used by"],
                                           r.integerCasts.map { [$0.node, $0.from, $0.consumers.joined(separator: ",")] }))
        }
        return lines
    }

    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            var line = row.enumerated().map { c, cell in cell.padding(to: widths[c]) }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        } + (rows.isEmpty ? ["(none)"] : [])
    }

    static func shape(_ dims: [String]?) -> String { dims.map { "[" + $0.joined(separator: ", ") + "]" } ?? "?" }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB"]
        var v = Double(n), u = 0
        while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
        return u == 0 ? "\(n) B" : "\(format1(v)) \(units[u])"
    }

    static func format1(_ v: Double) -> String { String(Double((v * 10).rounded()) / 10) }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        if v >= 1e5 || v < 1e-3 {
            var e = 0, m = v
            while m >= 10 { m /= 10; e += 1 }
            while m < 1 { m *= 10; e -= 1 }
            return "\(format1(m))e\(e)"
        }
        return format1(v)
    }
}

extension String {
    func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
