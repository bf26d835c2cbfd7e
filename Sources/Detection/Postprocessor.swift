import FoundationEssentials
import Imaging
import Tensors

/// A batch's raw outputs to each frame's detections in its original pixels: decode the whole
/// batch, drop low scores, NMS per image, undo the letterbox.
public struct Postprocessor: Sendable {
    public let decoder: HeadDecoder
    /// Candidates must score above this (OpenCV's `score > threshold`).
    public var scoreThreshold: Float
    public var nms: NonMaximumSuppression
    /// Only this many best candidates per image enter NMS (Ultralytics' `max_nms`), bounding its cost.
    public var maxCandidates: Int
    /// How boxes go back to the original image.
    public var mapping: BoxMapping
    /// A candidate for every class above the threshold at an anchor, not only the best one.
    public var multiLabel = false

    public init(decoder: HeadDecoder, scoreThreshold: Float = 0.25, nms: NonMaximumSuppression, maxCandidates: Int = 30_000,
                mapping: BoxMapping = .resampledScale) throws(DetectionError) {
        guard scoreThreshold >= 0, scoreThreshold < 1 else { throw .badParameter("the score threshold must be within 0…1, got \(scoreThreshold)") }
        guard maxCandidates > 0 else { throw .badParameter("the candidate limit must be at least 1, got \(maxCandidates)") }
        self.decoder = decoder
        self.scoreThreshold = scoreThreshold
        self.nms = nms
        self.maxCandidates = maxCandidates
        self.mapping = mapping
    }

    /// Detections of the first `placements.count` images of the batch (later slots are padding),
    /// best first, in each image's own pixels, clipped to it.
    public func callAsFunction(_ outputs: [String: Tensor], placements: [ImagePlacement]) throws(DetectionError) -> [[Detection]] {
        let perImage = try decoder.candidates(outputs, scoreThreshold: scoreThreshold, multiLabel: multiLabel)
        guard perImage.count >= placements.count else {
            throw .headMismatch(decoder: decoder.layout.rawValue, reason: "the outputs hold \(perImage.count) images, \(placements.count) were sent")
        }
        return zip(perImage, placements).map { candidates, placement in
            let limited = candidates.best(maxCandidates)
            let kept = decoder.needsNMS ? nms(limited) : (0..<limited.count).map(limited.detection).prefix(nms.maxDetections).map { $0 }
            return kept.map { Self.mapped($0, placement, mapping) }
        }
    }

    /// A detection in the model input's pixels, moved to the original image.
    public static func mapped(_ detection: Detection, _ placement: ImagePlacement, _ mapping: BoxMapping = .resampledScale) -> Detection {
        let t = mapping.transform(placement)
        func original(_ x: Float, _ y: Float) -> (x: Double, y: Double) { ((Double(x) - t.offsetX) / t.scaleX, (Double(y) - t.offsetY) / t.scaleY) }
        let a = original(detection.box.x1, detection.box.y1)
        let b = original(detection.box.x2, detection.box.y2)
        let box = Box(x1: Float(a.x), y1: Float(a.y), x2: Float(b.x), y2: Float(b.y))
        return Detection(box: box.clipped(width: placement.originalWidth, height: placement.originalHeight),
                         classIndex: detection.classIndex, score: detection.score)
    }
}

/// How a box in the model input's pixels goes back to the original image.
public enum BoxMapping: String, Sendable, CaseIterable {
    /// By the size each axis was really resampled to (resized / original): exact for every resize mode.
    case resampledScale
    /// By the letterbox gain r = min(target / original), as YOLOX, Ultralytics and ddddocr do
    /// (`boxes /= r`); the sizes they resample to are rounded, so this differs from the exact
    /// scale by up to one resized pixel. Detectors trained and evaluated that way expect it.
    case letterboxGain

    /// Model-input pixels to original pixels: `original = (x - offset) / scale` per axis. The one
    /// statement of the mapping, which the GPU path hands its kernel too.
    public func transform(_ p: ImagePlacement) -> (offsetX: Double, offsetY: Double, scaleX: Double, scaleY: Double) {
        let offsetX = Double(p.padLeft - p.cropLeft), offsetY = Double(p.padTop - p.cropTop)
        switch self {
        case .resampledScale: return (offsetX, offsetY, p.scaleX, p.scaleY)
        case .letterboxGain: return (offsetX, offsetY, p.ratio, p.ratio)
        }
    }
}
