import FoundationEssentials
import Imaging
import Tensors

/// Draws detections as rectangles on a copy of the frame, a colour per class.
public struct BoxDrawing: Sendable {
    /// Line width in pixels.
    public var thickness: Int

    public init(thickness: Int = 2) { self.thickness = max(1, thickness) }

    /// Ultralytics' palette (RGB), cycled by class.
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49), (72, 249, 10), (146, 204, 23),
        (61, 219, 134), (26, 147, 52), (0, 212, 187), (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255),
        (0, 24, 236), (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
    ]

    /// The frame with every detection's box drawn on it (boxes partly outside are clipped).
    public func draw(_ detections: [Detection], on image: Image) throws(ImagingError) -> Image {
        var pixels = image.pixels
        let width = image.width, height = image.height
        pixels.withUnsafeMutableBufferPointer(as: UInt8.self) { p in
            for detection in detections {
                var (r, g, b) = Self.palette[detection.classIndex % Self.palette.count]
                if image.order == .bgr { swap(&r, &b) }
                let box = detection.box.clipped(width: width, height: height)
                let x1 = Int(box.x1.rounded(.down)), y1 = Int(box.y1.rounded(.down))
                let x2 = min(Int(box.x2.rounded(.up)), width) - 1, y2 = min(Int(box.y2.rounded(.up)), height) - 1
                guard x2 >= x1, y2 >= y1 else { continue }
                func fill(_ xs: ClosedRange<Int>, _ ys: ClosedRange<Int>) {
                    for y in ys where y >= 0 && y < height {
                        for x in xs where x >= 0 && x < width {
                            let o = (y * width + x) * 3
                            p[o] = r; p[o + 1] = g; p[o + 2] = b
                        }
                    }
                }
                let t = thickness - 1
                fill(x1...x2, y1...min(y1 + t, y2))
                fill(x1...x2, max(y2 - t, y1)...y2)
                fill(x1...min(x1 + t, x2), y1...y2)
                fill(max(x2 - t, x1)...x2, y1...y2)
            }
        }
        return try Image(pixels: pixels, order: image.order, source: image.source)
    }
}
