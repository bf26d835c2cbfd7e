import FoundationEssentials
import ONNX
import Tensors

extension QuantizationJob {
    /// The calibrator whose ranges judge best on the held-back data: entropy (or the starting
    /// method), minmax and percentile, each with every layer its own plan puts in int8, one run
    /// each as the search judges. All come from the one pass of streamed statistics. A plan
    /// with no int8 layer is no candidate; among those meeting the target the one with the most
    /// int8 layers wins (a plan with fewer looks more accurate for that reason alone), otherwise
    /// the best measure; ties keep the earlier, the starting method first.
    func chooseCalibrator(_ search: inout QuantizationSearch, target: QuantizationSearch.Target,
                          start: (method: CalibrationMethod, plan: QuantizationPlan, ranges: [String: TensorRange]),
                          values: [String: ActivationStatistics.Value], histograms: [String: AbsHistogram], graph: Graph) throws
        -> (method: CalibrationMethod, plan: QuantizationPlan, ranges: [String: TensorRange], note: String) {
        struct Tried { var method: CalibrationMethod; var plan: QuantizationPlan; var ranges: [String: TensorRange]; var rank: QuantizationSearch.Rank }
        var tried: [Tried] = []
        for candidate in [start.method, .entropy, .minMax, .percentile(percentileCandidate)] where !tried.contains(where: { $0.method == candidate }) {
            let ranges = candidate == start.method ? start.ranges : Self.ranges(values, method: candidate, symmetric: options.symmetric)
            let plan = candidate == start.method ? start.plan : QuantizationPlan(graph: graph, ranges: ranges, histograms: histograms, options: options)
            guard plan.quantizedCount > 0 else { continue }
            search.ranges = ranges
            tried.append(Tried(method: candidate, plan: plan, ranges: ranges, rank: try search.rank(plan: plan, target: target)))
        }
        func better(_ a: Tried, than b: Tried) -> Bool {
            if a.rank.met != b.rank.met { return a.rank.met }
            if a.rank.met && a.plan.quantizedCount != b.plan.quantizedCount { return a.plan.quantizedCount > b.plan.quantizedCount }
            return a.rank > b.rank
        }
        guard let first = tried.first else {
            search.ranges = start.ranges
            return (start.method, start.plan, start.ranges, "calibrator: \(start.method) (no other plans an int8 layer)")
        }
        let best = tried.dropFirst().reduce(first) { better($1, than: $0) ? $1 : $0 }
        search.ranges = best.ranges
        let note = "calibrator chosen on the held-back data, every planned layer in int8: "
            + tried.map { "\($0.method) \($0.rank.text) (\($0.plan.quantizedCount) layers)" }.joined(separator: "; ") + " → \(best.method)"
        return (best.method, best.plan, best.ranges, note)
    }
}
