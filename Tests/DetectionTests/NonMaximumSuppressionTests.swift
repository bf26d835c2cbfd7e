import Detection
import Testing

/// Greedy NMS, stated as plainly as possible (double precision, division, one class at a time):
/// the reference the vectorized loop must agree with.
private func referenceNMS(_ c: Candidates, iou threshold: Double, max: Int, agnostic: Bool) -> [Int] {
    let order = c.scores.indices.sorted { c.scores[$0] != c.scores[$1] ? c.scores[$0] > c.scores[$1] : $0 < $1 }
    var kept: [Int] = []
    for i in order {
        let blocked = kept.contains { k in
            guard agnostic || c.classes[k] == c.classes[i] else { return false }
            let a = c.box(k), b = c.box(i)
            let w = Swift.max(0, Double(Swift.min(a.x2, b.x2)) - Double(Swift.max(a.x1, b.x1)))
            let h = Swift.max(0, Double(Swift.min(a.y2, b.y2)) - Double(Swift.max(a.y1, b.y1)))
            let inter = w * h, union = Double(a.area) + Double(b.area) - inter
            return union > 0 && inter / union > threshold
        }
        if !blocked { kept.append(i) }
        if kept.count == max { break }
    }
    return kept
}

private func random(_ n: Int, classes: Int, seed: UInt64, spread: Float = 200) -> Candidates {
    var state = seed
    func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
    var c = Candidates()
    for _ in 0..<n {
        let x = next() * spread, y = next() * spread, w = 5 + next() * 40, h = 5 + next() * 40
        // Quantized scores make ties common: order among equals must follow the index.
        let score = (next() * 20).rounded() / 20
        c.append(Box(x1: x, y1: y, x2: x + w, y2: y + h), classIndex: Int(next() * Float(classes)) % classes, score: score)
    }
    return c
}

@Suite struct NonMaximumSuppressionTests {
    @Test func emptyInputKeepsNothing() throws {
        #expect(try NonMaximumSuppression()(Candidates()).isEmpty)
    }

    @Test func keepsTheBestOfOverlappingBoxesAndDistinctClasses() throws {
        var c = Candidates()
        c.append(Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0, score: 0.8)
        c.append(Box(x1: 1, y1: 0, x2: 11, y2: 10), classIndex: 0, score: 0.9)   // IoU 0.818 with the first
        c.append(Box(x1: 1, y1: 0, x2: 11, y2: 10), classIndex: 1, score: 0.7)   // same place, other class
        c.append(Box(x1: 50, y1: 50, x2: 60, y2: 60), classIndex: 0, score: 0.5)
        let kept = try NonMaximumSuppression(iouThreshold: 0.5)(c)
        #expect(kept.map(\.score) == [0.9, 0.7, 0.5])
        #expect(kept.map(\.classIndex) == [0, 1, 0])
        let agnostic = try NonMaximumSuppression(iouThreshold: 0.5, classAgnostic: true)(c)
        #expect(agnostic.map(\.score) == [0.9, 0.5])
    }

    @Test func tiesKeepIndexOrderAndIoUAtTheThresholdIsKept() throws {
        var c = Candidates()
        // Two equal scores: the earlier index wins. IoU exactly 0.5 (OpenCV drops only above).
        c.append(Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0, score: 0.5)
        c.append(Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0, score: 0.5)
        c.append(Box(x1: 0, y1: 0, x2: 10, y2: 20), classIndex: 1, score: 0.4)
        c.append(Box(x1: 0, y1: 10, x2: 10, y2: 30), classIndex: 1, score: 0.3)   // IoU 1/3 with the one above
        let kept = try NonMaximumSuppression(iouThreshold: 0.5)(c)
        #expect(kept.map(\.box) == [c.box(0), c.box(2), c.box(3)])
        var half = Candidates()
        half.append(Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0, score: 0.9)
        half.append(Box(x1: 0, y1: 0, x2: 10, y2: 5), classIndex: 0, score: 0.8)    // IoU exactly 0.5
        #expect(try NonMaximumSuppression(iouThreshold: 0.5)(half).count == 2)
        #expect(try NonMaximumSuppression(iouThreshold: 0.49)(half).count == 1)
    }

    @Test func degenerateBoxesNeverSuppressAnything() throws {
        var c = Candidates()
        c.append(Box(x1: 5, y1: 5, x2: 5, y2: 5), classIndex: 0, score: 0.9)
        c.append(Box(x1: 5, y1: 5, x2: 5, y2: 5), classIndex: 0, score: 0.8)
        #expect(try NonMaximumSuppression(iouThreshold: 0)(c).count == 2)
    }

    @Test(arguments: [(1, 1), (7, 1), (64, 1), (65, 3), (500, 1), (500, 80), (4000, 1), (4000, 80)])
    func agreesWithTheReferenceOnRandomSets(n: Int, classes: Int) throws {
        for (seed, threshold) in [(UInt64(1), Float(0.45)), (2, 0.7), (3, 0.3)] {
            let c = random(n, classes: classes, seed: seed &* UInt64(n + classes))
            for agnostic in [false, true] {
                let nms = try NonMaximumSuppression(iouThreshold: threshold, maxDetections: 300, classAgnostic: agnostic)
                let expected = referenceNMS(c, iou: Double(threshold), max: 300, agnostic: agnostic).map(c.detection)
                #expect(nms(c) == expected, "n \(n), classes \(classes), threshold \(threshold), agnostic \(agnostic)")
            }
        }
    }

    @Test func stopsAtMaxDetections() throws {
        let c = random(1000, classes: 5, seed: 9, spread: 5000)
        #expect(try NonMaximumSuppression(iouThreshold: 0.5, maxDetections: 17)(c).count == 17)
    }

    @Test func refusesBadParameters() {
        #expect(throws: DetectionError.self) { try NonMaximumSuppression(iouThreshold: 1.5) }
        #expect(throws: DetectionError.self) { try NonMaximumSuppression(maxDetections: 0) }
    }
}
