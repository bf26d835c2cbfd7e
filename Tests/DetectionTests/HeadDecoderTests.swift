import Detection
import Foundation
import Imaging
import Tensors
import Testing

private func tensor(_ shape: [Int], _ values: [Float]) throws -> Tensor { try Tensor(shape: Shape(shape), elements: values) }

private func close(_ a: Box, _ b: Box, _ tolerance: Float = 1e-3) -> Bool {
    abs(a.x1 - b.x1) < tolerance && abs(a.y1 - b.y1) < tolerance && abs(a.x2 - b.x2) < tolerance && abs(a.y2 - b.y2) < tolerance
}

@Suite struct HeadDecoderTests {
    @Test func recognisesTheCommonHeadsFromTheirShapes() throws {
        func layout(_ outputs: [HeadOutput], _ w: Int, _ h: Int) throws -> HeadLayout { try HeadDecoder.recognise(outputs, inputWidth: w, inputHeight: h).layout }
        // The test material's ddddocr detector: 52² + 26² + 13² cells at 416.
        #expect(try layout([HeadOutput(name: "output", shape: [1, 3549, 6])], 416, 416) == .yolox)
        #expect(try layout([HeadOutput(name: "output0", shape: [1, 84, 8400])], 640, 640) == .yolov8)
        #expect(try layout([HeadOutput(name: "output0", shape: [1, 25200, 85])], 640, 640) == .yolov5)
        #expect(try layout([HeadOutput(name: "output0", shape: [1, 84, 5040])], 640, 384) == .yolov8)
        // PP-PicoDet at 320: four levels of scores and 4·8 distribution columns.
        let pico = [1600, 400, 100, 25].flatMap { [HeadOutput(name: "s\($0)", shape: [1, $0, 80]), HeadOutput(name: "d\($0)", shape: [1, $0, 32])] }
        let decoder = try HeadDecoder.recognise(pico, inputWidth: 320, inputHeight: 320)
        #expect(decoder.layout == .gfl && decoder.classCount == 80)
        #expect(try layout([HeadOutput(name: "dets", shape: [1, 100, 6])], 640, 640) == .boxes)
        #expect(try layout([HeadOutput(name: "boxes", shape: [1, 1000, 4]), HeadOutput(name: "scores", shape: [1, 1000, 21])], 300, 300) == .boxes)
    }

    @Test func saysWhatItSawWhenNoLayoutFits() {
        #expect { try HeadDecoder.recognise([HeadOutput(name: "logits", shape: [1, 1000])], inputWidth: 224, inputHeight: 224) } throws: { error in
            "\(error)".firstRange(of: "logits [1, 1000]") != nil && "\(error)".firstRange(of: "--decoder") != nil
        }
        #expect(throws: DetectionError.self) {
            try HeadDecoder.recognise([HeadOutput(name: "o", shape: [1, 3549, 6])], inputWidth: 640, inputHeight: 640, requested: .yolox)
        }
    }

    @Test func decodesYOLOXGridOffsetsPerStrideForEveryImageOfABatch() throws {
        let n = 3549, k = 7   // two classes
        var values = [Float](repeating: 0.01, count: 2 * n * k)
        // (image, cell, t_x, t_y, t_w, t_h, objectness, class scores)
        let cells: [(Int, Int, [Float])] = [
            (0, 0 + 3 * 52 + 5, [0.5, 0.25, 0, 0, 0.9, 0.2, 0.8]),               // stride 8, gx 5, gy 3
            (1, 2704 + 10 * 26 + 20, [0, 0, 1, 0.5, 0.8, 0.9, 0.1]),             // stride 16, gx 20, gy 10
            (1, 2704 + 676 + 12 * 13 + 12, [0.1, 0.2, -1, 0.3, 0.7, 0.5, 0.6]),  // stride 32, last cell
        ]
        for (image, cell, row) in cells { for (j, v) in row.enumerated() { values[(image * n + cell) * k + j] = v } }
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, n, k])], inputWidth: 416, inputHeight: 416)
        let found = try decoder.candidates(["output": try tensor([2, n, k], values)], scoreThreshold: 0.1)
        #expect(found.count == 2 && found[0].count == 1 && found[1].count == 2)
        #expect(close(found[0].box(0), Box(centerX: 5.5 * 8, centerY: 3.25 * 8, width: 8, height: 8)))
        #expect(found[0].classes == [1] && abs(found[0].scores[0] - 0.72) < 1e-6)
        #expect(close(found[1].box(0), Box(centerX: 20 * 16, centerY: 10 * 16, width: expf(1) * 16, height: expf(0.5) * 16)))
        #expect(found[1].classes == [0, 1])
        #expect(close(found[1].box(1), Box(centerX: 12.1 * 32, centerY: 12.2 * 32, width: expf(-1) * 32, height: expf(0.3) * 32)))
    }

    @Test func decodesYOLOv8ChannelsFirstWithoutObjectness() throws {
        let n = 8400, k = 6
        var values = [Float](repeating: 0, count: k * n)
        let i = 4321
        for (c, v) in [Float(100), 200, 40, 20, 0.3, 0.6].enumerated() { values[c * n + i] = v }
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output0", shape: [1, k, n])], inputWidth: 640, inputHeight: 640)
        let found = try decoder.candidates(["output0": try tensor([1, k, n], values)], scoreThreshold: 0.25)[0]
        #expect(found.count == 1 && found.classes == [1] && found.scores == [0.6])
        #expect(close(found.box(0), Box(x1: 80, y1: 190, x2: 120, y2: 210)))
    }

    @Test func decodesGFLDistributionsAsExpectedDistances() throws {
        // One level at stride 32 over 64x64: 2x2 cells, 1 class, R+1 = 4 bins.
        let cells = 4, bins = 4
        var scores = [Float](repeating: 0, count: cells), dist = [Float](repeating: -20, count: cells * 4 * bins)
        scores[3] = 0.9
        // Sides peaked at bins 1, 2, 0, 3: distances 1, 2, 0, 3 strides.
        for (side, bin) in [1, 2, 0, 3].enumerated() { dist[(3 * 4 + side) * bins + bin] = 20 }
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "s", shape: [1, cells, 1]), HeadOutput(name: "d", shape: [1, cells, 4 * bins])],
                                                inputWidth: 64, inputHeight: 64, requested: .gfl)
        let found = try decoder.candidates(["s": try tensor([1, cells, 1], scores), "d": try tensor([1, cells, 4 * bins], dist)], scoreThreshold: 0.5)[0]
        #expect(found.count == 1)
        // Cell (1, 1) centre (48, 48).
        #expect(close(found.box(0), Box(x1: 48 - 32, y1: 48 - 64, x2: 48, y2: 48 + 96), 1e-2))
    }

    /// Multi-label: every class above the threshold at an anchor gives a candidate, in class order,
    /// for each layout that scores classes; single-label keeps the best one only.
    @Test func multiLabelKeepsEveryClassAboveTheThresholdInEveryLayout() throws {
        // YOLOX [1, N, 5+3]: objectness 0.9, classes 0.5, 0.1, 0.8 → scores 0.45, 0.09, 0.72.
        let n = 3549, k = 8
        var yolox = [Float](repeating: 0, count: n * k)
        for (j, v) in [Float(0), 0, 0, 0, 0.9, 0.5, 0.1, 0.8].enumerated() { yolox[7 * k + j] = v }
        let x = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, n, k])], inputWidth: 416, inputHeight: 416)
        let xm = try x.candidates(["output": try tensor([1, n, k], yolox)], scoreThreshold: 0.3, multiLabel: true)[0]
        #expect(xm.classes == [0, 2] && abs(xm.scores[0] - 0.45) < 1e-6 && abs(xm.scores[1] - 0.72) < 1e-6 && xm.box(0) == xm.box(1))
        #expect(try x.candidates(["output": try tensor([1, n, k], yolox)], scoreThreshold: 0.3)[0].classes == [2])
        // YOLOv8 [1, 4+3, 8400]: classes 0.6, 0.3, 0.7 at one anchor.
        let cells = 8400, channels = 7
        var v8 = [Float](repeating: 0, count: channels * cells)
        for (c, v) in [Float(100), 100, 20, 20, 0.6, 0.3, 0.7].enumerated() { v8[c * cells + 11] = v }
        let y = try HeadDecoder.recognise([HeadOutput(name: "output0", shape: [1, channels, cells])], inputWidth: 640, inputHeight: 640)
        #expect(try y.candidates(["output0": try tensor([1, channels, cells], v8)], scoreThreshold: 0.25, multiLabel: true)[0].classes == [0, 1, 2])
        #expect(try y.candidates(["output0": try tensor([1, channels, cells], v8)], scoreThreshold: 0.25)[0].classes == [2])
        // GFL: one cell with classes 0.9 and 0.6 of 2.
        var scores = [Float](repeating: 0, count: 4 * 2), dist = [Float](repeating: 0, count: 4 * 16)
        (scores[6], scores[7]) = (0.9, 0.6)
        let g = try HeadDecoder.recognise([HeadOutput(name: "s", shape: [1, 4, 2]), HeadOutput(name: "d", shape: [1, 4, 16])],
                                          inputWidth: 64, inputHeight: 64, requested: .gfl)
        let gm = try g.candidates(["s": try tensor([1, 4, 2], scores), "d": try tensor([1, 4, 16], dist)], scoreThreshold: 0.5, multiLabel: true)[0]
        #expect(gm.classes == [0, 1] && gm.scores == [0.9, 0.6])
        // Boxes [1, N, 4] with scores [1, N, 2].
        let b = try HeadDecoder.recognise([HeadOutput(name: "boxes", shape: [1, 2, 4]), HeadOutput(name: "scores", shape: [1, 2, 2])],
                                          inputWidth: 64, inputHeight: 64, requested: .boxes)
        let feeds = ["boxes": try tensor([1, 2, 4], [0, 0, 10, 10, 5, 5, 20, 20]), "scores": try tensor([1, 2, 2], [0.7, 0.8, 0.1, 0.2])]
        #expect(try b.candidates(feeds, scoreThreshold: 0.5, multiLabel: true)[0].classes == [0, 1])
        #expect(try b.candidates(feeds, scoreThreshold: 0.5)[0].classes == [1])
    }

    @Test func keepsBoxesThatAreAlreadyFinished() throws {
        let rows: [Float] = [10, 20, 30, 40, 0.9, 3, 0, 0, 0, 0, 0, 0]
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "dets", shape: [1, 2, 6])], inputWidth: 64, inputHeight: 64)
        #expect(!decoder.needsNMS)
        let found = try decoder.candidates(["dets": try tensor([1, 2, 6], rows)], scoreThreshold: 0.25)[0]
        #expect(found.count == 1 && found.classes == [3] && found.box(0) == Box(x1: 10, y1: 20, x2: 30, y2: 40))
    }

    /// A model's NaN and infinities (found by the frame fuzzer): no crash, and no box that cannot be drawn.
    @Test func nonFiniteOutputsAreLeftOut() throws {
        let rows: [Float] = [10, 20, 30, 40, 0.9, .nan, 1, 2, 3, 4, 0.8, 1e30, .nan, 2, 3, 4, 0.7, 0, .infinity, 2, 3, 4, 0.6, 0, 5, 6, 7, 8, 0.5, 2]
        let finished = try HeadDecoder.recognise([HeadOutput(name: "dets", shape: [1, 5, 6])], inputWidth: 64, inputHeight: 64)
        let kept = try finished.candidates(["dets": try tensor([1, 5, 6], rows)], scoreThreshold: 0.1)[0]
        #expect(kept.count == 1 && kept.classes == [2])
        var values = [Float](repeating: 0.01, count: 3549 * 6)
        values.replaceSubrange(0..<6, with: [.nan, 0, 0, 0, 0.9, 0.9])
        values.replaceSubrange(6..<12, with: [0, 0, .infinity, 0, 0.9, 0.9])
        values.replaceSubrange(12..<18, with: [0, 0, 0, 0, 0.9, 0.9])
        let yolox = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        #expect(try yolox.candidates(["output": try tensor([1, 3549, 6], values)], scoreThreshold: 0.5)[0].count == 1)
    }

    @Test func emptyFramesGiveNoDetections() throws {
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        let zeros = try Tensor(dtype: .float32, shape: [3, 3549, 6])
        let post = try Postprocessor(decoder: decoder, scoreThreshold: 0.1, nms: NonMaximumSuppression())
        let placement = try ImagePlacement.make(width: 800, height: 600, spec: PreprocessSpec.preset(named: "yolox416")!)
        #expect(try post(["output": zeros], placements: [placement, placement]) == [[], []])
    }

    @Test func mapsBoxesBackThroughTheLetterbox() throws {
        let spec = PreprocessSpec.preset(named: "yolo640")!   // centred padding
        let placement = try ImagePlacement.make(width: 1280, height: 720, spec: spec)
        let inSlot = Detection(box: Box(x1: 100, y1: 140 + 50, x2: 300, y2: 140 + 250), classIndex: 2, score: 0.5)
        let mapped = Postprocessor.mapped(inSlot, placement, .letterboxGain)
        #expect(placement.padTop == 140 && close(mapped.box, Box(x1: 200, y1: 100, x2: 600, y2: 500)))
        // Boxes reaching past the frame are clipped to it.
        let outside = Postprocessor.mapped(Detection(box: Box(x1: -10, y1: 100, x2: 700, y2: 200), classIndex: 0, score: 1), placement, .resampledScale)
        #expect(outside.box.x1 == 0 && outside.box.x2 == 1280)
    }

    @Test func readsUltralyticsClassNames() {
        #expect(ClassNames.parse("{0: 'person', 1: 'bicycle', 2: \"car\"}")?.label(2) == "car")
        #expect(ClassNames.parse("['a', 'b']")?.label(1) == "b")
        #expect(ClassNames().label(7) == "7")
    }
}

@Suite struct DetectionAgreementTests {
    @Test func equalSetsAgreeEvenWithEmptyBoxesAndDifferencesAreNamed() {
        let a = [Detection(box: Box(x1: 5, y1: 5, x2: 5, y2: 9), classIndex: 1, score: 1), Detection(box: Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0, score: 0.5)]
        var same = DetectionAgreement()
        same.add([a], [a.reversed()], minimumIoU: 0.999)
        #expect(same.mismatchedFrames == 0 && same.boxes == 2 && same.worstIoU == 1 && same.firstDifference == nil)
        var moved = DetectionAgreement()
        var b = a
        b[1].box.x2 = 12
        moved.add([a, a], [a, b], minimumIoU: 0.999)
        #expect(moved.frames == 2 && moved.mismatchedFrames == 1 && moved.firstDifference?.hasPrefix("frame 1:") == true)
        var fewer = DetectionAgreement()
        fewer.add([a], [[a[0]]], minimumIoU: 0.5)
        #expect(fewer.mismatchedFrames == 1 && fewer.firstDifference?.firstRange(of: "2 vs 1 boxes") != nil)
    }
}
