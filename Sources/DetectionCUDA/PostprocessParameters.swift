import Detection
import FoundationEssentials
import Imaging

/// The by-value structures the postprocessing kernels take, laid out as their C declarations in
/// `PostprocessKernels.source` (every field 4 or 8 bytes, naturally aligned, no padding).
struct PostprocessParameters {
    /// `struct HeadParams`: 5 ints, 3 × 4 ints, 1 float.
    let bytes: [UInt8]
    let cells: Int
    static let headBytes = 72
    /// `struct Placement`: 4 doubles, 2 floats.
    static let placementBytes = 40
    static let maxLevels = 4

    init(decoder: HeadDecoder, shapes: [[Int]], threshold: Float) throws(DetectionError) {
        guard let shape = shapes.first, shape.count == 3 else {
            throw .headMismatch(decoder: decoder.layout.rawValue, reason: "expected outputs of rank 3, got \(shapes)")
        }
        let layout: Int32, cells: Int, width: Int, classes: Int
        switch decoder.layout {
        case .yolox: (layout, cells, width, classes) = (0, shape[1], shape[2], shape[2] - 5)
        case .yolov5: (layout, cells, width, classes) = (1, shape[1], shape[2], shape[2] - 5)
        case .yolov8: (layout, cells, width, classes) = (2, shape[2], shape[1], shape[1] - 4)
        case .boxes:
            guard shapes.count == 2 else { throw .headMismatch(decoder: "boxes", reason: "the GPU path takes boxes with scores") }
            (layout, cells, width, classes) = (3, shape[1], 4, shapes[1][2])
        case .gfl: throw .headMismatch(decoder: "gfl", reason: "GFL heads are decoded on the CPU")
        }
        guard classes >= 1 else { throw .headMismatch(decoder: decoder.layout.rawValue, reason: "no class scores in \(shape)") }
        var levels = decoder.gridLevels
        if layout == 0 {
            guard let l = levels, l.strides.count <= Self.maxLevels, l.cellCounts.reduce(0, +) == cells else {
                throw .headMismatch(decoder: "yolox", reason: "\(cells) cells do not match the grid")
            }
        } else {
            levels = nil
        }
        var out: [UInt8] = []
        func int(_ v: Int) { withUnsafeBytes(of: Int32(v).littleEndian) { out += $0 } }
        for v in [Int(layout), cells, width, classes, levels?.strides.count ?? 0] { int(v) }
        for table in [levels?.strides ?? [], levels?.widths ?? [], levels?.cellCounts ?? []] {
            for i in 0..<Self.maxLevels { int(i < table.count ? table[i] : 0) }
        }
        withUnsafeBytes(of: threshold.bitPattern.littleEndian) { out += $0 }
        precondition(out.count == Self.headBytes)
        bytes = out
        self.cells = cells
    }

    /// Each image's `struct Placement`: the offset and divisors `Postprocessor.mapped` uses.
    static func placements(_ images: [ImagePlacement], mapping: BoxMapping) -> [UInt8] {
        var out: [UInt8] = []
        for p in images {
            let t = mapping.transform(p)
            for v in [t.offsetX, t.offsetY, t.scaleX, t.scaleY] {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            }
            for v in [Float(p.originalWidth), Float(p.originalHeight)] { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        }
        return out
    }
}
