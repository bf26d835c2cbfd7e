import Detection
import FoundationEssentials

/// One frame's line of `detect`'s JSON lines output.
public struct FrameRecord: Encodable, Sendable {
    public var frame: Int
    public var source: String
    public var sourceFrame: Int
    /// Seconds into a video (null for still images).
    public var timestamp: Double?
    public var width: Int
    public var height: Int
    public var detections: [BoxRecord]
    /// Why the frame could not be read (absent for a frame read fine).
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case frame, source, sourceFrame = "source_frame", timestamp, width, height, detections, error
    }

    public init(_ result: FrameResult, names: ClassNames) {
        let info = result.info
        frame = info.index
        source = info.source
        sourceFrame = info.sourceFrame
        timestamp = info.timestamp.map { Self.rounded($0, 3) }
        width = info.width
        height = info.height
        detections = result.detections.map { BoxRecord($0, names: names) }
        error = result.error
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(frame, forKey: .frame)
        try c.encode(source, forKey: .source)
        try c.encode(sourceFrame, forKey: .sourceFrame)
        try c.encode(timestamp, forKey: .timestamp)   // null, not absent, for a still image
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(detections, forKey: .detections)
        try c.encodeIfPresent(error, forKey: .error)
    }

    /// `value` to `decimals` places: boxes to a hundredth of a pixel, scores to 1e-5, the precision
    /// the figures carry (and the lines stay short).
    static func rounded(_ value: Double, _ decimals: Int) -> Double {
        let scale = [1.0, 10, 100, 1000, 10_000, 100_000][decimals]
        // + 0 turns a rounded -0 into 0: JSON readers keep the sign, and -0 reads as a bug.
        return (value * scale).rounded() / scale + 0
    }
}

/// One box: corners in the original frame's pixels, class, label, score.
public struct BoxRecord: Encodable, Sendable {
    public var box: [Double]
    public var `class`: Int
    public var label: String
    public var score: Double

    public init(_ detection: Detection, names: ClassNames) {
        let b = detection.box
        box = [b.x1, b.y1, b.x2, b.y2].map { FrameRecord.rounded(Double($0), 2) }
        `class` = detection.classIndex
        label = names.label(detection.classIndex)
        score = FrameRecord.rounded(Double(detection.score), 5)
    }
}

/// One entry of a COCO results file.
public struct COCORecord: Encodable, Sendable {
    public var imageID: Int
    public var categoryID: Int
    /// x, y, width, height.
    public var bbox: [Double]
    public var score: Double

    enum CodingKeys: String, CodingKey {
        case imageID = "image_id", categoryID = "category_id", bbox, score
    }

    /// A frame's boxes. COCO's image id is the file name's number (COCO's own files are
    /// 000000000139.jpg), else the frame index.
    public static func records(_ frame: FrameResult) -> [COCORecord] {
        let stem = frame.info.source.split(separator: "/").last.map { $0.split(separator: ".").first.map(String.init) ?? "" } ?? ""
        let id = frame.info.sourceFrame == 0 && !stem.isEmpty && stem.allSatisfy(\.isNumber) ? Int(stem) ?? frame.info.index : frame.info.index
        return frame.detections.map { d in
            let b = d.box
            return COCORecord(imageID: id, categoryID: d.classIndex, bbox: [b.x1, b.y1, b.width, b.height].map { FrameRecord.rounded(Double($0), 2) },
                              score: FrameRecord.rounded(Double(d.score), 5))
        }
    }
}
