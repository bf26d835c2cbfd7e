import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The per-image loops of each head layout over a batch's output values (float32, row-major).
struct GridDecoding {
    let decoder: HeadDecoder
    let values: [[Float]]
    let shapes: [[Int]]
    let threshold: Float
    /// Every class above the threshold at an anchor, not only its best.
    var multiLabel = false

    func image(_ b: Int) throws(DetectionError) -> Candidates {
        switch decoder.layout {
        case .yolox, .yolov5: return rowsWithObjectness(b, grid: decoder.layout == .yolox)
        case .yolov8: return channelsFirst(b)
        case .gfl: return distributions(b)
        case .boxes: return decoder.needsNMS ? boxesAndScores(b) : finishedBoxes(b)
        }
    }

    /// The best class of `count` scores starting at `base` (the first on ties).
    @inline(__always)
    private func best(_ v: UnsafeBufferPointer<Float>, _ base: Int, _ count: Int, stride: Int = 1) -> (Int, Float) {
        var index = 0, score = v[base]
        for c in 1..<max(count, 1) where v[base + c * stride] > score {
            index = c
            score = v[base + c * stride]
        }
        return (index, score)
    }

    /// The classes an anchor gives candidates for: its best (if above the threshold), or with
    /// `multiLabel` every one above it, in class order. `scale` multiplies each class score first
    /// (YOLOX's objectness).
    @inline(__always)
    private func labels(_ v: UnsafeBufferPointer<Float>, _ base: Int, _ count: Int, scale: Float = 1) -> [(Int, Float)] {
        guard multiLabel else {
            let (c, score) = best(v, base, count)
            return score * scale > threshold ? [(c, score * scale)] : []
        }
        var found: [(Int, Float)] = []
        for c in 0..<count where v[base + c] * scale > threshold { found.append((c, v[base + c] * scale)) }
        return found
    }

    /// YOLOX (raw grid offsets, decoded here) and YOLOv5/v7 (decoded in the graph): `[B, N, 5+C]`.
    private func rowsWithObjectness(_ b: Int, grid: Bool) -> Candidates {
        let n = shapes[0][1], k = shapes[0][2], classes = k - 5
        var out = Candidates()
        values[0].withUnsafeBufferPointer { v in
            var row = b * n * k
            var cell = 0
            // The cell's grid position and stride, advanced level by level (YOLOX only).
            var level = 0, levelStart = 0
            for _ in 0..<n {
                defer { row += k; cell += 1 }
                let found = labels(v, row + 5, classes, scale: v[row + 4])
                guard !found.isEmpty else { continue }
                var box: Box
                if grid, let levels = decoder.levels {
                    while cell - levelStart >= levels.cellCounts[level] { levelStart += levels.cellCounts[level]; level += 1 }
                    let i = cell - levelStart, s = Float(levels.strides[level])
                    let gx = Float(i % levels.widths[level]), gy = Float(i / levels.widths[level])
                    box = Box(centerX: (v[row] + gx) * s, centerY: (v[row + 1] + gy) * s, width: expf(v[row + 2]) * s, height: expf(v[row + 3]) * s)
                } else {
                    box = Box(centerX: v[row], centerY: v[row + 1], width: v[row + 2], height: v[row + 3])
                }
                for (c, score) in found { out.append(box, classIndex: c, score: score) }
            }
        }
        return out
    }

    /// YOLOv8/11: `[B, 4+C, N]`; the best class is found channel by channel so every read is contiguous.
    private func channelsFirst(_ b: Int) -> Candidates {
        let k = shapes[0][1], n = shapes[0][2], classes = k - 4
        var bestScore = [Float](repeating: -.infinity, count: n)
        var bestClass = [Int32](repeating: 0, count: n)
        var out = Candidates()
        values[0].withUnsafeBufferPointer { v in
            let base = b * k * n
            for c in 0..<classes {
                let row = base + (4 + c) * n
                for i in 0..<n where v[row + i] > bestScore[i] {
                    bestScore[i] = v[row + i]
                    bestClass[i] = Int32(c)
                }
            }
            for i in 0..<n where bestScore[i] > threshold {
                let box = Box(centerX: v[base + i], centerY: v[base + n + i], width: v[base + 2 * n + i], height: v[base + 3 * n + i])
                guard multiLabel else {
                    out.append(box, classIndex: Int(bestClass[i]), score: bestScore[i])
                    continue
                }
                for c in 0..<classes where v[base + (4 + c) * n + i] > threshold { out.append(box, classIndex: c, score: v[base + (4 + c) * n + i]) }
            }
        }
        return out
    }

    /// PP-PicoDet/GFL: per level, the side distances are the expectation of a softmax over R+1 bins, times the stride.
    private func distributions(_ b: Int) -> Candidates {
        guard let levels = decoder.levels else { return Candidates() }
        let bins = decoder.bins, classes = decoder.classCount
        var out = Candidates()
        var probabilities = [Float](repeating: 0, count: bins)
        for (l, stride) in levels.strides.enumerated() {
            let cells = shapes[2 * l][1], s = Float(stride)
            values[2 * l].withUnsafeBufferPointer { scores in values[2 * l + 1].withUnsafeBufferPointer { dist in
                for i in 0..<cells {
                    let found = labels(scores, (b * cells + i) * classes, classes)
                    guard !found.isEmpty else { continue }
                    var sides: [Float] = [0, 0, 0, 0]
                    for side in 0..<4 {
                        let base = (b * cells + i) * 4 * bins + side * bins
                        var peak = -Float.infinity
                        for r in 0..<bins { peak = max(peak, dist[base + r]) }
                        var sum: Float = 0
                        for r in 0..<bins { probabilities[r] = expf(dist[base + r] - peak); sum += probabilities[r] }
                        var expectation: Float = 0
                        for r in 0..<bins { expectation += Float(r) * probabilities[r] }
                        sides[side] = expectation / sum * s
                    }
                    let cx = (Float(i % levels.widths[l]) + 0.5) * s, cy = (Float(i / levels.widths[l]) + 0.5) * s
                    for (c, score) in found { out.append(Box(x1: cx - sides[0], y1: cy - sides[1], x2: cx + sides[2], y2: cy + sides[3]), classIndex: c, score: score) }
                }
            } }
        }
        return out
    }

    /// Boxes `[B, N, 4]` (corners) with per-class scores `[B, N, C]`.
    private func boxesAndScores(_ b: Int) -> Candidates {
        let n = shapes[0][1], classes = shapes[1][2]
        var out = Candidates()
        values[0].withUnsafeBufferPointer { boxes in values[1].withUnsafeBufferPointer { scores in
            for i in 0..<n {
                let r = (b * n + i) * 4
                for (c, score) in labels(scores, (b * n + i) * classes, classes) {
                    out.append(Box(x1: boxes[r], y1: boxes[r + 1], x2: boxes[r + 2], y2: boxes[r + 3]), classIndex: c, score: score)
                }
            }
        } }
        return out
    }

    /// `[B, N, 6]` rows of x1, y1, x2, y2, score, class, already through NMS (padding rows score 0).
    private func finishedBoxes(_ b: Int) -> Candidates {
        let n = shapes[0][1]
        var out = Candidates()
        values[0].withUnsafeBufferPointer { v in
            for i in 0..<n {
                let r = (b * n + i) * 6
                // Padding rows and rows whose class is not a class number are skipped.
                let c = v[r + 5]
                guard v[r + 4] > threshold, c >= 0, c < Float(Int32.max), c == c.rounded() else { continue }
                out.append(Box(x1: v[r], y1: v[r + 1], x2: v[r + 2], y2: v[r + 3]), classIndex: Int(c), score: v[r + 4])
            }
        }
        return out
    }
}
