import FoundationEssentials

/// Greedy non-maximum suppression, class-aware by default, with OpenCV's `NMSBoxes` conventions:
/// candidates scoring above the threshold are visited best first (equal scores in index order, as
/// OpenCV's stable sort does), and a box is dropped when its IoU with a kept box of the same class
/// exceeds `iouThreshold` (no "+1 pixel" in areas).
public struct NonMaximumSuppression: Sendable, Equatable {
    public var iouThreshold: Float
    /// At most this many boxes kept per image (300, as Ultralytics).
    public var maxDetections: Int
    /// Suppress across classes too (one box per place whatever its class).
    public var classAgnostic: Bool

    public init(iouThreshold: Float = 0.45, maxDetections: Int = 300, classAgnostic: Bool = false) throws(DetectionError) {
        guard iouThreshold >= 0, iouThreshold <= 1 else { throw .badParameter("the IoU threshold must be within 0…1, got \(iouThreshold)") }
        guard maxDetections > 0 else { throw .badParameter("the maximum number of detections must be at least 1, got \(maxDetections)") }
        self.iouThreshold = iouThreshold
        self.maxDetections = maxDetections
        self.classAgnostic = classAgnostic
    }

    /// Indices of `scores` best first, equal scores by index.
    static func scoreOrder(_ scores: [Float]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }

    /// The kept detections, best first.
    /// - Complexity: O(n log n + k·n) for n candidates and k kept boxes.
    public func callAsFunction(_ candidates: Candidates) -> [Detection] {
        let n = candidates.count
        guard n > 0 else { return [] }
        let order = Self.scoreOrder(candidates.scores)
        // Sorted copies, so the inner loop reads contiguous memory.
        let x1 = order.map { candidates.x1[$0] }, y1 = order.map { candidates.y1[$0] }
        let x2 = order.map { candidates.x2[$0] }, y2 = order.map { candidates.y2[$0] }
        let classes = classAgnostic ? [Int32](repeating: 0, count: n) : order.map { candidates.classes[$0] }
        let areas = (0..<n).map { max(0, x2[$0] - x1[$0]) * max(0, y2[$0] - y1[$0]) }
        var suppressed = [UInt8](repeating: 0, count: n)
        var kept: [Detection] = []
        let threshold = iouThreshold
        x1.withUnsafeBufferPointer { x1 in y1.withUnsafeBufferPointer { y1 in
        x2.withUnsafeBufferPointer { x2 in y2.withUnsafeBufferPointer { y2 in
        areas.withUnsafeBufferPointer { areas in classes.withUnsafeBufferPointer { classes in
        suppressed.withUnsafeMutableBufferPointer { suppressed in
            for i in 0..<n where suppressed[i] == 0 {
                kept.append(candidates.detection(order[i]))
                if kept.count == maxDetections { break }
                let bx1 = x1[i], by1 = y1[i], bx2 = x2[i], by2 = y2[i], barea = areas[i], bclass = classes[i]
                // Branch-free over the rest: IoU > t  ⇔  inter > t·union, no division.
                for j in (i + 1)..<n {
                    let w = max(0, min(bx2, x2[j]) - max(bx1, x1[j]))
                    let h = max(0, min(by2, y2[j]) - max(by1, y1[j]))
                    let inter = w * h
                    let union = barea + areas[j] - inter
                    let overlaps = inter > threshold * union && union > 0
                    let same = classes[j] == bclass
                    suppressed[j] |= (overlaps && same) ? 1 : 0
                }
            }
        } } } } } } }
        return kept
    }
}
