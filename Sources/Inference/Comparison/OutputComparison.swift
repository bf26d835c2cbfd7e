import Tensors

/// One tensor of a reference model against the same tensor of a candidate: the statistics, or why
/// there are none (the models disagree on its shape or type). `compare`, `convert --check` and the
/// accuracy gates of quantization and mixed precision all build these.
public struct OutputComparison: Encodable, Sendable {
    public var name: String
    /// The op that produced it (intermediates of `compare --all-tensors`).
    public var op: String?
    public var isOutput: Bool
    public var shape: [Int]
    public var metrics: TensorComparison?
    /// Why there are no metrics.
    public var problem: String?
    /// Within the elementwise tolerance (Polygraphy's rule).
    public var passed: Bool { metrics?.passed ?? false }

    public init(name: String, op: String? = nil, isOutput: Bool, shape: [Int], metrics: TensorComparison? = nil, problem: String? = nil) {
        self.name = name
        self.op = op
        self.isOutput = isOutput
        self.shape = shape
        self.metrics = metrics
        self.problem = problem
    }

    /// B's tensor converted to A's type, then compared; a shape or type the comparison cannot
    /// bridge is a failed row (the models disagree), not bad input.
    public static func compare(name: String, op: String? = nil, reference a: Tensor, candidate b: Tensor,
                               tolerance: ComparisonTolerance, isOutput: Bool) -> OutputComparison {
        var entry = OutputComparison(name: name, op: op, isOutput: isOutput, shape: a.shape.dimensions)
        do {
            let candidate = try b.converted(to: a.dtype)
            entry.metrics = try TensorComparison(actual: candidate, reference: a, tolerance: tolerance)
        } catch {
            entry.problem = b.shape == a.shape ? "B gives \(b.dtype), A \(a.dtype): \(error)" : "B's shape \(b.shape) differs from A's \(a.shape)"
        }
        return entry
    }

    /// A row for an output the candidate does not produce: a failure, never skipped.
    public static func missing(_ name: String, shape: [Int]) -> OutputComparison {
        OutputComparison(name: name, isOutput: true, shape: shape, problem: "the candidate model has no output '\(name)'")
    }

    enum CodingKeys: String, CodingKey { case name, op, shape, metrics, problem, passed }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(op, forKey: .op)
        try c.encode(shape, forKey: .shape)
        try c.encodeIfPresent(metrics, forKey: .metrics)
        try c.encodeIfPresent(problem, forKey: .problem)
        try c.encode(passed, forKey: .passed)
    }
}

/// The accuracy bound a reduced-precision model must meet against its float32 original: relative L2
/// within `maxRelativeL2`, no NaN/Inf the reference does not have, and, when asked, every element
/// within the elementwise tolerance.
public struct AccuracyGate: Codable, Sendable, Equatable {
    public var maxRelativeL2: Double
    /// Also apply the elementwise rule (when the user gave --rtol/--atol): the tolerance the
    /// comparisons were made with, which decided each element.
    public var elementwise: ComparisonTolerance?

    public init(maxRelativeL2: Double = 1e-2, elementwise: ComparisonTolerance? = nil) {
        self.maxRelativeL2 = maxRelativeL2
        self.elementwise = elementwise
    }

    /// One output's verdict under this gate.
    public func verdict(_ entry: OutputComparison) -> Verdict {
        var v = Verdict(output: entry.name, relativeL2: entry.metrics?.relativeL2, cosine: entry.metrics?.cosineSimilarity,
                        maxAbsError: entry.metrics?.maxAbsError, failingElements: entry.metrics?.failingElements, passed: false, why: "")
        guard let m = entry.metrics else {
            v.why = entry.problem ?? "not comparable"
            return v
        }
        let newNonFinite = m.nonFinite.actualNaN + m.nonFinite.actualInf > m.nonFinite.referenceNaN + m.nonFinite.referenceInf
        if newNonFinite {
            v.why = "NaN/Inf the float32 model does not give"
        } else if !(m.relativeL2 <= maxRelativeL2) {
            v.why = "relative L2 \(NumberText.scientific(m.relativeL2)) > \(maxRelativeL2)"
        } else if let t = elementwise, !m.passed {
            v.why = "\(m.failingElements) element(s) beyond rtol \(t.rtol) and atol \(t.atol)"
        } else {
            v.passed = true
        }
        return v
    }

    /// Every output's verdict, and whether all passed (none compared is a failure).
    public func verdicts(_ entries: [OutputComparison]) -> (verdicts: [Verdict], passed: Bool) {
        let verdicts = entries.filter(\.isOutput).map(verdict)
        return (verdicts, !verdicts.isEmpty && verdicts.allSatisfy(\.passed))
    }

    public struct Verdict: Codable, Sendable, Equatable {
        public var output: String
        public var relativeL2: Double?
        public var cosine: Double?
        public var maxAbsError: Double?
        public var failingElements: Int?
        public var passed: Bool
        public var why: String
    }
}
