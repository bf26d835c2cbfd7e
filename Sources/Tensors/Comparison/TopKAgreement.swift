/// Whether two score tensors pick the same classes: for classifier-like outputs, a small elementwise
/// error matters less than a changed answer.
///
/// The last axis is the class axis; every other position is one row. Computed for shapes `[N, C]`
/// and `[N, 1, …, 1, C]` with C ≥ 2; a feature map (`[1, 1, 256, 256]`) is not a classifier and gets
/// none, nor does a bare vector (`[C]`: more often a bias or a parameter than a score row).
public struct TopKAgreement: Codable, Sendable, Equatable {
    public var rows: Int
    public var classes: Int
    /// Fraction of rows whose highest-scoring class is the same (ties: the first index, as argmax).
    public var top1: Double
    /// Mean over rows of |top-5(a) ∩ top-5(b)| / 5; nil when there are fewer than 5 classes.
    public var top5Overlap: Double?

    public init(rows: Int, classes: Int, top1: Double, top5Overlap: Double?) {
        self.rows = rows
        self.classes = classes
        self.top1 = top1
        self.top5Overlap = top5Overlap
    }

    /// Whether `shape` is one this statistic is meaningful for.
    public static func appliesTo(_ shape: Shape) -> Bool {
        guard shape.rank >= 2, let classes = shape.dimensions.last, classes >= 2 else { return false }
        return shape.dimensions.dropFirst().dropLast().allSatisfy { $0 == 1 }
    }

    init?(_ a: Tensor, _ b: Tensor, shape: Shape) {
        guard a.dtype == .float32 || a.dtype == .float64 else { return nil }
        if a.dtype == .float32 {
            self.init(a, b, shape: shape, as: Float.self)
        } else {
            self.init(a, b, shape: shape, as: Double.self)
        }
    }

    private init?<T: BinaryFloatingPoint & TensorElement>(_ a: Tensor, _ b: Tensor, shape: Shape, as: T.Type) {
        guard Self.appliesTo(shape), let classes = shape.dimensions.last else { return nil }
        let rows = shape.elementCount / classes
        guard rows > 0 else { return nil }
        var same = 0, overlap = 0
        a.withUnsafeBufferPointer(as: T.self) { a in
            b.withUnsafeBufferPointer(as: T.self) { b in
                for row in 0..<rows {
                    let x = UnsafeBufferPointer(rebasing: a[(row * classes)..<((row + 1) * classes)])
                    let y = UnsafeBufferPointer(rebasing: b[(row * classes)..<((row + 1) * classes)])
                    if Self.top(1, of: x) == Self.top(1, of: y) { same += 1 }
                    if classes >= 5 { overlap += Set(Self.top(5, of: x)).intersection(Self.top(5, of: y)).count }
                }
            }
        }
        self.init(rows: rows, classes: classes, top1: Double(same) / Double(rows),
                  top5Overlap: classes >= 5 ? Double(overlap) / Double(rows * 5) : nil)
    }

    /// Indices of the `k` largest scores, best first; NaN never ranks; ties keep the lower index.
    static func top<T: BinaryFloatingPoint>(_ k: Int, of scores: UnsafeBufferPointer<T>) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in scores.indices where !scores[i].isNaN {
            // Insertion into a list of at most k: O(C·k), with k ≤ 5 cheaper than a heap.
            var slot = best.count
            while slot > 0 && scores[i] > scores[best[slot - 1]] { slot -= 1 }
            if slot < k {
                best.insert(i, at: slot)
                if best.count > k { best.removeLast() }
            }
        }
        return best
    }
}
