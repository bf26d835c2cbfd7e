import FoundationEssentials

/// How a detector's raw outputs encode boxes (`reference/detection.md` has each family's layout).
public enum HeadLayout: String, Sendable, CaseIterable, Codable {
    /// YOLOX: `[B, N, 5+C]`, N = grid cells of strides 8/16/32 in order, raw offsets:
    /// `cx = (t_x + grid_x)·s`, `w = exp(t_w)·s`; score = objectness × class.
    case yolox
    /// YOLOv5/v7: `[B, 3·cells, 5+C]`, boxes already `cx, cy, w, h` in input pixels; score = objectness × class.
    case yolov5
    /// YOLOv8/11: `[B, 4+C, N]` (channels first), `cx, cy, w, h` in input pixels, no objectness.
    case yolov8
    /// PP-PicoDet / GFL: per level, scores `[B, N_l, C]` and side distributions `[B, N_l, 4·(R+1)]`.
    case gfl
    /// Already boxes: `[B, N, 6]` as x1, y1, x2, y2, score, class (NMS done in the graph), or
    /// boxes `[B, N, 4]` (x1, y1, x2, y2) with scores `[B, N, C]`.
    case boxes
}

/// An output by name and shape (batch first), as the head recogniser sees it.
public struct HeadOutput: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// Grid geometry: the cells of each stride over the model's input, in the order heads emit them.
public struct GridLevels: Sendable, Equatable {
    public private(set) var strides: [Int]
    public private(set) var widths: [Int]
    public private(set) var heights: [Int]

    init(strides: [Int], inputWidth: Int, inputHeight: Int) {
        self.strides = strides
        // Ceiling division, as PicoDet's anchor generator; YOLO inputs are multiples of 32 anyway.
        widths = strides.map { (inputWidth + $0 - 1) / $0 }
        heights = strides.map { (inputHeight + $0 - 1) / $0 }
    }

    public var cellCounts: [Int] { zip(widths, heights).map { $0 * $1 } }
    var totalCells: Int { cellCounts.reduce(0, +) }

    /// The usual stride sets, P3–P5 first; the first whose cells total `cells` (times `perCell`).
    static func matching(cells: Int, perCell: Int = 1, inputWidth: Int, inputHeight: Int) -> GridLevels? {
        for strides in [[8, 16, 32], [8, 16, 32, 64], [16, 32, 64], [8, 16], [32]] {
            let levels = GridLevels(strides: strides, inputWidth: inputWidth, inputHeight: inputHeight)
            if levels.totalCells * perCell == cells { return levels }
        }
        return nil
    }
}
