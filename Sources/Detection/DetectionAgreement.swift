import FoundationEssentials

/// How two sets of detections of the same frames agree: every frame the same number of boxes, and
/// each box of one matched to its own box of the other (same class, best IoU first).
public struct DetectionAgreement: Sendable, Equatable {
    public var frames = 0
    public var boxes = 0
    /// Frames whose counts differ, or with a box whose best partner is below the IoU bound or of another class.
    public var mismatchedFrames = 0
    public var worstIoU: Float = 1
    public var largestScoreDifference: Float = 0
    /// The first difference found, in words (frame, boxes), for the report.
    public var firstDifference: String?

    public init() {}

    /// Adds the frames of `a` and `b` (same order) to the tally.
    public mutating func add(_ a: [[Detection]], _ b: [[Detection]], minimumIoU: Float) {
        for (x, y) in zip(a, b) {
            frames += 1
            guard x.count == y.count else {
                mismatchedFrames += 1
                if firstDifference == nil {
                    let extra = x.count > y.count ? Set(x.map { "\($0)" }).subtracting(y.map { "\($0)" }) : Set(y.map { "\($0)" }).subtracting(x.map { "\($0)" })
                    firstDifference = "frame \(frames - 1): \(x.count) vs \(y.count) boxes; only on one side: \(extra.sorted().prefix(3).joined(separator: "; "))"
                }
                continue
            }
            var unused = Array(y.indices)
            var bad = false
            // Equal boxes agree even when empty (zero width), where IoU is 0 by definition.
            func overlap(_ a: Box, _ b: Box) -> Float { a == b ? 1 : a.iou(b) }
            for d in x {
                let best = unused.filter { y[$0].classIndex == d.classIndex }.max { overlap(y[$0].box, d.box) < overlap(y[$1].box, d.box) }
                guard let best else {
                    bad = true
                    if firstDifference == nil { firstDifference = "frame \(frames - 1): \(d) has no partner of its class" }
                    continue
                }
                unused.removeAll { $0 == best }
                let iou = overlap(y[best].box, d.box)
                worstIoU = min(worstIoU, iou)
                largestScoreDifference = max(largestScoreDifference, abs(y[best].score - d.score))
                if iou < minimumIoU {
                    bad = true
                    if firstDifference == nil { firstDifference = "frame \(frames - 1): \(d) against \(y[best]) (IoU \(iou))" }
                }
                boxes += 1
            }
            if bad { mismatchedFrames += 1 }
        }
        frames += max(0, a.count - b.count) + max(0, b.count - a.count)
        mismatchedFrames += abs(a.count - b.count)
    }
}
