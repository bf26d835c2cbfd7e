import FoundationEssentials
import Tensors

/// Everything a quantization decided, for `--report report.json` and the printed summary.
public struct QuantizationReport: Sendable, Codable {
    public var method: String
    public var activations: String
    public var weights: String
    /// What the layers left out of int8 compute in.
    public var rest = "float32"
    /// Where the ranges came from: the calibration data (with its batches and samples) or a cache.
    public var calibration: String
    public var batches = 0
    public var samples = 0
    /// Bytes of the measured activations of one calibration batch: what calibration holds at once
    /// (besides the model), whatever the number of batches.
    public var activationBytesPerBatch = 0
    /// Activations with a calibrated range.
    public var tensorsCalibrated = 0
    /// Layers of a quantizable type, and each one's decision.
    public var layers = 0
    public var quantizedByOpType: [String: Int] = [:]
    public var decisions: [QuantizationPlan.Decision] = []
    public var passThroughNodes = 0
    /// Elementwise and joining nodes between int8 nodes that run on int8.
    public var int8Ops = 0
    /// The accuracy search: asked for, or the default accuracy guard's.
    public var search: QuantizationSearch.Outcome?
    /// What the default accuracy guard judged the model as (nil: no guard ran).
    public var accuracyGuard: String?
    public var rewrite = QDQRewrite.Result()
    public var batchNormFolded: [String] = []
    public var notes: [String] = []
    public var warnings: [String] = []
    /// How the result was run before it was written (nil: it was not run).
    public var runCheck: String?
    public var bytesBefore = 0
    public var bytesAfter = 0

    public init(method: String, activations: String, weights: String, calibration: String) {
        self.method = method
        self.activations = activations
        self.weights = weights
        self.calibration = calibration
    }

    public var quantizedLayers: Int { decisions.filter(\.quantized).count }

    /// Readable lines for the terminal.
    public func summary() -> [String] {
        var lines: [String] = []
        lines.append("quantized \(quantizedLayers) of \(layers) layers to int8 (\(method) calibration, \(activations) activations, \(weights) weights); the rest stays \(rest)")
        if !quantizedByOpType.isEmpty {
            lines.append("  int8: " + quantizedByOpType.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + (passThroughNodes > 0 ? "; \(passThroughNodes) data-movement node(s) between them run on int8" : "")
                + (int8Ops > 0 ? "; \(int8Ops) elementwise/joining node(s) too (Sigmoid, Mul, Add, Concat …)" : ""))
        }
        lines.append("  calibration: \(calibration)" + (batches > 0 ? ", \(batches) batch(es), \(samples) sample(s)" : "") + "; \(tensorsCalibrated) tensors calibrated"
            + (activationBytesPerBatch > 0 ? " (\(megabytes(activationBytesPerBatch)) of them per batch)" : ""))
        if !batchNormFolded.isEmpty { lines.append("  folded \(batchNormFolded.count) BatchNormalization node(s) into the layer before them (float64)") }
        // Reasons group the float layers; the histogram estimate carries each tensor's figure.
        let kept = decisions.filter { !$0.quantized }
        let byReason = Dictionary(grouping: kept) { d -> String in
            let r = d.reason ?? ""
            // hasPrefix, not contains: String.contains(String) is full Foundation's, which the static binary leaves out.
            if r.hasPrefix("estimated int8 error:") { return "estimated int8 error over the limit" }
            if r.hasPrefix("accuracy search:") { return "accuracy search (each one's own effect in the JSON report)" }
            if r.hasPrefix("int8 does not pay here") { return "int8 does not pay here (reduction length K < \(LayerCost.alone), or < \(LayerCost.besideInt8) beside int8 layers; --every-layer quantizes them)" }
            return r
        }
        for (reason, nodes) in byReason.sorted(by: { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }) {
            let names = nodes.prefix(4).map(\.node).joined(separator: ", ")
            lines.append("  float (\(nodes.count)): \(reason): \(names)\(nodes.count > 4 ? ", …" : "")")
        }
        if let search {
            let figures = "\(NumberText.scientific(search.errorBefore)) → \(NumberText.scientific(search.errorAfter))"
                + (search.tolerance.map { " (target \(NumberText.scientific($0)))" } ?? "")
            let on = search.samples > 0 ? " on \(search.samples) \(search.heldBack ? "held-back sample(s) calibration never saw" : "calibration sample(s)")" : ""
            if let accuracyGuard { lines.append("  accuracy guard\(on): \(accuracyGuard)" + (search.note.map { "; \($0)" } ?? "")) }
            var line = "  accuracy search: worst output relative L2 " + figures
            if let wanted = search.targetAgreement, let before = search.agreementBefore, let after = search.agreementAfter {
                line += ", argmax agreement \(NumberText.fixed(100 * before, 2)) % → \(NumberText.fixed(100 * after, 2)) % (target \(NumberText.fixed(100 * wanted, 2)) %)"
            }
            if let wanted = search.targetBoxes, let before = search.boxesBefore, let after = search.boxesAfter {
                line += ", boxes kept \(NumberText.fixed(100 * before, 1)) % → \(NumberText.fixed(100 * after, 1)) % (target \(NumberText.fixed(100 * wanted, 0)) %)"
            }
            line += " in \(search.runs) model run(s); \(search.keptFloat.count) layer(s) sent back to float"
            let named: [String] = search.keptFloat.prefix(4).map { "\($0.node) (\(NumberText.scientific($0.relativeL2)))" }
            if !named.isEmpty { line += ": " + named.joined(separator: ", ") + (search.keptFloat.count > 4 ? ", …" : "") }
            lines.append(line)
        }
        lines.append("  Q/DQ pairs: \(rewrite.activationPairs) on activations; \(rewrite.weightsQuantized) weights int8, \(rewrite.biasesQuantized) biases int32"
            + (rewrite.relusFolded > 0 ? "; \(rewrite.relusFolded) ReLU(s) folded into ranges" : "")
            + (rewrite.hardActivations > 0 ? "; \(rewrite.hardActivations) HardSigmoid/HardSwish as int8 Adds" : ""))
        if rewrite.scalesRaisedForBias > 0 { lines.append("  \(rewrite.scalesRaisedForBias) weight channel scale(s) raised so their bias fits int32") }
        if rewrite.biasValuesClipped > 0 { lines.append("warning: \(rewrite.biasValuesClipped) bias value(s) exceeded int32 at their scale and were clipped") }
        lines.append("  size: \(megabytes(bytesBefore)) → \(megabytes(bytesAfter))")
        if let runCheck { lines.append("  run check: \(runCheck)") }
        for n in notes { lines.append(n) }
        for w in warnings { lines.append("warning: \(w)") }
        return lines
    }
}
