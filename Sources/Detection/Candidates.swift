import FoundationEssentials

/// The boxes of one image that passed the score threshold, before NMS, as parallel arrays: the
/// suppression loop reads each coordinate as one contiguous run, which the compiler vectorizes.
public struct Candidates: Sendable, Equatable {
    public var x1: [Float] = []
    public var y1: [Float] = []
    public var x2: [Float] = []
    public var y2: [Float] = []
    public var scores: [Float] = []
    public var classes: [Int32] = []

    public init() {}

    public var count: Int { scores.count }

    public mutating func reserve(_ n: Int) {
        x1.reserveCapacity(n); y1.reserveCapacity(n); x2.reserveCapacity(n); y2.reserveCapacity(n)
        scores.reserveCapacity(n); classes.reserveCapacity(n)
    }

    /// Appends a candidate; one whose corners are not finite numbers (a model's NaN or infinity)
    /// is left out, as the GPU path leaves it out: it can be neither suppressed nor drawn.
    public mutating func append(_ box: Box, classIndex: Int, score: Float) {
        guard box.x1.isFinite, box.y1.isFinite, box.x2.isFinite, box.y2.isFinite else { return }
        x1.append(box.x1); y1.append(box.y1); x2.append(box.x2); y2.append(box.y2)
        scores.append(score); classes.append(Int32(classIndex))
    }

    public func box(_ i: Int) -> Box { Box(x1: x1[i], y1: y1[i], x2: x2[i], y2: y2[i]) }

    public func detection(_ i: Int) -> Detection { Detection(box: box(i), classIndex: Int(classes[i]), score: scores[i]) }

    /// The `limit` best-scoring candidates (ties by index), for heads that emit tens of thousands.
    func best(_ limit: Int) -> Candidates {
        guard count > limit else { return self }
        let keep = NonMaximumSuppression.scoreOrder(scores).prefix(limit).sorted()
        var out = Candidates()
        out.reserve(limit)
        for i in keep { out.append(box(i), classIndex: Int(classes[i]), score: scores[i]) }
        return out
    }
}
