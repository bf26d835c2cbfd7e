import FoundationEssentials
import Tensors

/// Turns a batch of a detector's raw outputs into each image's candidate boxes (in the model
/// input's pixels), for the whole batch at once: the outputs are read once, each layout's loop
/// touches every value once.
public struct HeadDecoder: Sendable, Equatable {
    public let layout: HeadLayout
    public let classCount: Int
    /// The outputs the layout reads, in the order it reads them (GFL: scores then distributions per level).
    public let outputNames: [String]
    /// False when the graph already ran NMS (`[B, N, 6]` boxes): the pipeline then keeps every box.
    public let needsNMS: Bool
    let levels: GridLevels?
    /// The grid a YOLOX or GFL head is laid out on (nil for layouts with decoded boxes).
    public var gridLevels: GridLevels? { levels }
    /// Bins per side (R + 1) of a GFL distribution.
    let bins: Int
    public let inputWidth: Int
    public let inputHeight: Int

    /// One line for summaries: "yolox (3 strides 8/16/32, 1 class) on output".
    public var description: String {
        var parts = ["\(classCount) class\(classCount == 1 ? "" : "es")"]
        if let levels { parts.insert("strides \(levels.strides.map(String.init).joined(separator: "/"))", at: 0) }
        return "\(layout.rawValue) (\(parts.joined(separator: ", "))) on \(outputNames.joined(separator: ", "))"
    }

    /// The decoder `requested`, or the first layout whose shapes `outputs` fit.
    /// - Throws: `.headMismatch` when the requested layout does not fit, `.unrecognisedHead` when none does.
    public static func recognise(_ outputs: [HeadOutput], inputWidth: Int, inputHeight: Int, requested: HeadLayout? = nil) throws(DetectionError) -> HeadDecoder {
        if let requested {
            return try make(requested, outputs, inputWidth, inputHeight, explicit: true)
        }
        for layout in [HeadLayout.yolox, .yolov8, .yolov5, .gfl, .boxes] {
            if let decoder = try? make(layout, outputs, inputWidth, inputHeight, explicit: false) { return decoder }
        }
        let seen = outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")
        throw .unrecognisedHead("outputs \(seen) for a \(inputWidth)x\(inputHeight) input fit none of "
            + "\(HeadLayout.allCases.map(\.rawValue).joined(separator: ", ")); pass --decoder if the model is one of them "
            + "(grid layouts need 8400-style cell counts of strides 8/16/32)")
    }

    private static func make(_ layout: HeadLayout, _ outputs: [HeadOutput], _ w: Int, _ h: Int, explicit: Bool) throws(DetectionError) -> HeadDecoder {
        func fail(_ why: String) -> DetectionError { .headMismatch(decoder: layout.rawValue, reason: why) }
        let rank3 = outputs.filter { $0.shape.count == 3 }
        switch layout {
        case .yolox, .yolov5, .yolov8:
            guard outputs.count == 1, let out = rank3.first else { throw fail("expects one output of rank 3, the model has \(outputs.map { "\($0.name) \($0.shape)" })") }
            let (n, k) = layout == .yolov8 ? (out.shape[2], out.shape[1]) : (out.shape[1], out.shape[2])
            let minimum = layout == .yolov8 ? 5 : 6
            guard k >= minimum else { throw fail("\(out.name) \(out.shape) has \(k) values per box, at least \(minimum) needed") }
            let levels = GridLevels.matching(cells: n, perCell: layout == .yolov5 ? 3 : 1, inputWidth: w, inputHeight: h)
            if layout == .yolox, levels == nil {
                throw fail("\(n) boxes are not the grid cells of strides 8/16/32 (or 8-64) over \(w)x\(h)")
            }
            if levels == nil, !explicit { throw fail("\(n) boxes do not match the grid over \(w)x\(h)") }
            if layout == .yolov8, k >= n { throw fail("\(out.name) \(out.shape) is not channels-first") }
            return HeadDecoder(layout: layout, classCount: k - (layout == .yolov8 ? 4 : 5), outputNames: [out.name], needsNMS: true,
                               levels: layout == .yolox ? levels : nil, bins: 0, inputWidth: w, inputHeight: h)
        case .gfl:
            guard rank3.count == outputs.count, outputs.count >= 2, outputs.count % 2 == 0 else {
                throw fail("expects pairs of rank-3 outputs (scores, distributions) per level, got \(outputs.map(\.shape))")
            }
            var names: [String] = [], strides: [Int] = [], classes = 0, bins = 0
            var remaining = outputs
            while let first = remaining.first {
                remaining.removeFirst()
                guard let j = remaining.firstIndex(where: { $0.shape[1] == first.shape[1] }) else { throw fail("\(first.name) \(first.shape) has no partner with \(first.shape[1]) cells") }
                let second = remaining.remove(at: j)
                // The distribution has 4·(R+1) columns; when both could be, the first is the scores (PicoDet's export order).
                let (scores, dist) = (first.shape[2] % 4 != 0 || second.shape[2] % 4 == 0) ? (first, second) : (second, first)
                guard let stride = strideFor(cells: scores.shape[1], w, h) else { throw fail("\(scores.shape[1]) cells match no stride over \(w)x\(h)") }
                if classes != 0, scores.shape[2] != classes || dist.shape[2] / 4 != bins { throw fail("levels disagree on classes or bins") }
                classes = scores.shape[2]; bins = dist.shape[2] / 4
                names += [scores.name, dist.name]; strides.append(stride)
            }
            guard bins >= 2 else { throw fail("a distribution needs at least 2 bins per side, got \(bins)") }
            return HeadDecoder(layout: .gfl, classCount: classes, outputNames: names, needsNMS: true,
                               levels: GridLevels(strides: strides, inputWidth: w, inputHeight: h), bins: bins, inputWidth: w, inputHeight: h)
        case .boxes:
            if outputs.count == 1, let out = rank3.first, out.shape[2] == 6 {
                return HeadDecoder(layout: .boxes, classCount: 0, outputNames: [out.name], needsNMS: false, levels: nil, bins: 0, inputWidth: w, inputHeight: h)
            }
            guard outputs.count == 2, rank3.count == 2 else { throw fail("expects [B,N,6], or boxes [B,N,4] with scores [B,N,C]") }
            let boxes = rank3.first { $0.shape[2] == 4 } ?? rank3[0]
            let scores = rank3.first { $0.name != boxes.name }!
            guard boxes.shape[2] == 4, boxes.shape[1] == scores.shape[1] else { throw fail("boxes \(boxes.shape) and scores \(scores.shape) do not pair") }
            return HeadDecoder(layout: .boxes, classCount: scores.shape[2], outputNames: [boxes.name, scores.name], needsNMS: true,
                               levels: nil, bins: 0, inputWidth: w, inputHeight: h)
        }
    }

    /// The power-of-two stride whose (ceiling) grid over the input has `cells` cells.
    private static func strideFor(cells: Int, _ w: Int, _ h: Int) -> Int? {
        [4, 8, 16, 32, 64, 128].first { GridLevels(strides: [$0], inputWidth: w, inputHeight: h).totalCells == cells }
    }

    /// Each image's candidates scoring above `scoreThreshold`, boxes in the model input's pixels.
    /// - Parameter multiLabel: one candidate per class above the threshold at each anchor (as
    ///   PaddleDetection's multiclass NMS and Ultralytics' `multi_label` keep them), not only its best class.
    public func candidates(_ outputs: [String: Tensor], scoreThreshold: Float, multiLabel: Bool = false) throws(DetectionError) -> [Candidates] {
        var values: [[Float]] = [], shapes: [[Int]] = []
        for name in outputNames {
            guard let tensor = outputs[name] else { throw .headMismatch(decoder: layout.rawValue, reason: "the output \(name) is missing") }
            do { values.append(try tensor.floatValues()) } catch {
                throw .headMismatch(decoder: layout.rawValue, reason: "\(name) is \(tensor.dtype), not a floating-point tensor")
            }
            shapes.append(tensor.shape.dimensions)
        }
        let batch = shapes[0][0]
        guard shapes.allSatisfy({ $0.count == 3 && $0[0] == batch }) else {
            throw .headMismatch(decoder: layout.rawValue, reason: "outputs of shapes \(shapes) do not share a batch")
        }
        return try (0..<batch).map { (b) throws(DetectionError) in
            try GridDecoding(decoder: self, values: values, shapes: shapes, threshold: scoreThreshold, multiLabel: multiLabel).image(b)
        }
    }
}
