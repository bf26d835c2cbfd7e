import FoundationEssentials

/// An axis-aligned box by its corners, in pixels (edges, not centres: a box covering pixel
/// columns 0…9 is x1 = 0, x2 = 10).
public struct Box: Sendable, Equatable, Codable {
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(x1: Float, y1: Float, x2: Float, y2: Float) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// From a centre and a size, the form most heads emit.
    public init(centerX: Float, centerY: Float, width: Float, height: Float) {
        self.init(x1: centerX - width / 2, y1: centerY - height / 2, x2: centerX + width / 2, y2: centerY + height / 2)
    }

    public var width: Float { max(0, x2 - x1) }
    public var height: Float { max(0, y2 - y1) }
    public var area: Float { width * height }

    /// Intersection over union without the "+1 pixel" convention (OpenCV's `NMSBoxes`, torchvision).
    public func iou(_ other: Box) -> Float {
        let w = max(0, min(x2, other.x2) - max(x1, other.x1))
        let h = max(0, min(y2, other.y2) - max(y1, other.y1))
        let intersection = w * h
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }

    /// The box clipped to a `width` × `height` frame.
    public func clipped(width: Int, height: Int) -> Box {
        let w = Float(width), h = Float(height)
        return Box(x1: min(max(x1, 0), w), y1: min(max(y1, 0), h), x2: min(max(x2, 0), w), y2: min(max(y2, 0), h))
    }
}

/// One object found in one frame.
public struct Detection: Sendable, Equatable {
    public var box: Box
    /// The index of the class in the model's output.
    public var classIndex: Int
    public var score: Float

    public init(box: Box, classIndex: Int, score: Float) {
        self.box = box
        self.classIndex = classIndex
        self.score = score
    }
}
