import Detection
import FoundationEssentials
import Inference
import Tensors

/// What "still usable" means for a model's outputs, shaped by its task and judged against float32
/// on pictures calibration never saw (`CalibrationData.holdingBack`). A raw relative L2 alone
/// passes a detector whose boxes are gone: a YOLOv8 head's coordinates (hundreds of pixels) bury
/// its class scores (0–1) in the norm, and an entropy-calibrated NudeNet kept 1 of 6 boxes at a
/// relative L2 of 1.6e-2. So:
/// - a detector whose head layout `Detection` recognises is judged on its decoded boxes (same
///   class, IoU ≥ 0.5, F1 over the held-back pictures), and its layers ranked by the worse of its
///   boxes' and scores' relative L2;
/// - a classifier (`[N, C]` outputs) on its class where float32 decides;
/// - anything else (maps, embeddings, raw heads) on the relative L2 of each output.
public struct AccuracyGuard: Sendable {
    public enum Task: Sendable, Equatable {
        case detector(HeadDecoder)
        case classifier
        case maps
    }
    public let task: Task
    public let target: QuantizationSearch.Target

    /// The defaults a model must meet on held-back data: the bar of `bench/RESULTS.md`'s held-out
    /// table (relative L2 ≤ 5e-2, the class kept on ≥ 95 %), and 90 % of the boxes for detectors.
    public static let relativeL2 = 5e-2
    public static let agreement = 0.95
    public static let boxAgreement = 0.9
    /// Fewer boxes than this on the held-back pictures judge nothing: the head's relative L2
    /// (boxes and scores apart) is the target then.
    static let minimumBoxes = 8
    /// Detections judged: the pipeline's defaults.
    static let scoreThreshold: Float = 0.25
    static let matchIoU: Float = 0.5

    public init(task: Task, target: QuantizationSearch.Target) {
        self.task = task
        self.target = target
    }

    /// The task read off the float32 outputs on one held-back batch and the image size its
    /// feed has (a 4-D input with 3 channels).
    public static func shaped(reference outputs: [String: Tensor], feed: [String: Tensor]) -> AccuracyGuard {
        let image = feed.values.first { $0.shape.dimensions.count == 4 && ($0.shape.dimensions[1] == 3 || $0.shape.dimensions[3] == 3) }
        if let dims = image?.shape.dimensions {
            let (h, w) = dims[1] == 3 ? (dims[2], dims[3]) : (dims[1], dims[2])
            let heads = outputs.sorted { $0.key < $1.key }.map { HeadOutput(name: $0.key, shape: $0.value.shape.dimensions) }
            if let decoder = try? HeadDecoder.recognise(heads, inputWidth: w, inputHeight: h) {
                return AccuracyGuard(task: .detector(decoder), target: .init(boxes: boxAgreement))
            }
        }
        let ranks = outputs.values.map { $0.shape.dimensions }
        if ranks.contains(where: { $0.count == 2 && $0[1] >= 2 }) && ranks.allSatisfy({ $0.count <= 2 }) {
            return AccuracyGuard(task: .classifier, target: .init(agreement: agreement))
        }
        return AccuracyGuard(task: .maps, target: .init(relativeL2: relativeL2))
    }

    public var description: String {
        switch task {
        case .detector(let decoder):
            "a \(decoder.layout.rawValue) detector: ≥ \(NumberText.fixed(100 * Self.boxAgreement, 0)) % of float32's boxes kept (same class, IoU ≥ \(Self.matchIoU), score ≥ \(Self.scoreThreshold))"
        case .classifier: "a classifier: its class kept on ≥ \(NumberText.fixed(100 * Self.agreement, 0)) % of the pictures where float32 decides"
        case .maps: "each output within relative L2 \(NumberText.scientific(Self.relativeL2)) of float32"
        }
    }

    /// Each picture's detections, in the model input's pixels (nil unless a detector).
    public func detections(_ outputs: [String: Tensor]) throws -> [[Detection]]? {
        guard case .detector(let decoder) = task else { return nil }
        let nms = try NonMaximumSuppression()
        return try decoder.candidates(outputs, scoreThreshold: Self.scoreThreshold).map { nms($0) }
    }

    /// Boxes matched between float32 (`reference`) and a candidate, and the boxes on both sides:
    /// the F1 is 2·matched / total.
    public static func matches(_ reference: [[Detection]], _ candidate: [[Detection]]) -> (matched: Int, total: Int) {
        var matched = 0, total = 0
        for (want, got) in zip(reference, candidate) {
            total += want.count + got.count
            var unused = Array(got.indices)
            for d in want.sorted(by: { $0.score > $1.score }) {
                let best = unused.filter { got[$0].classIndex == d.classIndex }.max { got[$0].box.iou(d.box) < got[$1].box.iou(d.box) }
                guard let best, got[best].box.iou(d.box) >= matchIoU else { continue }
                unused.removeAll { $0 == best }
                matched += 1
            }
        }
        return (matched, total)
    }

    /// A detector's outputs split into the parts a norm must not mix: YOLO heads' box
    /// coordinates and their scores (`[start, end)` along the values axis); nil elsewhere.
    public func parts(of name: String, shape: [Int]) -> (axis: Int, splits: [Range<Int>])? {
        guard case .detector(let decoder) = task, decoder.outputNames.contains(name), shape.count == 3 else { return nil }
        switch decoder.layout {
        case .yolov8: return (1, [0..<4, 4..<shape[1]])
        case .yolov5, .yolox: return (2, [0..<4, 4..<shape[2]])
        case .gfl, .boxes: return nil
        }
    }

    /// The worst relative L2 over the outputs (over their parts, for a detector's head), pooled
    /// over the batches: ‖Δ‖² and ‖x‖² summed before the ratio.
    public func relativeL2(_ outputs: [[String: Tensor]], against reference: [[String: Tensor]]) throws -> Double {
        var squares: [String: (error: Double, reference: Double)] = [:]
        for (got, want) in zip(outputs, reference) {
            for (name, x) in want {
                guard let y0 = got[name], x.dtype == .float32, x.elementCount == y0.elementCount else { continue }
                let y = y0.dtype == .float32 ? y0 : try y0.converted(to: .float32)
                let dims = x.shape.dimensions
                let split = parts(of: name, shape: dims)
                // Each value's part: its index along the split axis, (i / inner) % extent.
                let inner = split.map { dims[($0.axis + 1)...].reduce(1, *) } ?? 1
                let extent = split.map { dims[$0.axis] } ?? 1
                let partOf = (0..<extent).map { k in split?.splits.firstIndex { $0.contains(k) } ?? 0 }
                var error = [Double](repeating: 0, count: split?.splits.count ?? 1), norm = error
                x.withUnsafeBufferPointer(as: Float.self) { a in
                    y.withUnsafeBufferPointer(as: Float.self) { b in
                        for i in 0..<a.count {
                            let d = Double(b[i]) - Double(a[i]), part = partOf[(i / inner) % extent]
                            error[part] += d.isNaN || (d.isInfinite && a[i].isFinite) ? .infinity : d * d
                            norm[part] += Double(a[i]) * Double(a[i])
                        }
                    }
                }
                for part in error.indices {
                    squares["\(name)#\(part)", default: (0, 0)].error += error[part]
                    squares["\(name)#\(part)", default: (0, 0)].reference += norm[part]
                }
            }
        }
        return squares.values.map { $0.reference > 0 ? ($0.error / $0.reference).squareRoot() : ($0.error > 0 ? .infinity : 0) }.max() ?? 0
    }
}
