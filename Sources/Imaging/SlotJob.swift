import CKernels
import FoundationEssentials
import Synchronization
import Tensors

/// Element strides of one batch slot in the spec's layout.
struct SlotGeometry {
    let rowStride: Int, pixelStride: Int, channelStride: Int, slotElements: Int

    init(spec: PreprocessSpec, elementSize: Int) {
        let h = spec.height, w = spec.width
        slotElements = 3 * h * w
        switch spec.layout {
        case .nchw: (rowStride, pixelStride, channelStride) = (w, 1, h * w)
        case .nhwc: (rowStride, pixelStride, channelStride) = (3 * w, 3, 1)
        }
    }
}

/// An image size's tap tables and what the kernels need to know of them. They depend only on the
/// image size (the spec is fixed per preprocessor), so a stream of same-size frames builds them once.
struct SlotTaps: Sendable {
    let x: AxisTable, y: AxisTable
    /// The source columns the taps read; whether they are one run (no horizontal resampling); whether
    /// every two-tap pair is a column and the next (or weighs nothing), which the SIMD paths need.
    let xSpan: Range<Int>
    let contiguous: Bool
    let adjacent: Bool
    /// The column taps laid out for the AVX-512 loop (empty where it does not apply).
    let groups: [UInt8]

    init(width: Int, height: Int, placement: ImagePlacement, spec: PreprocessSpec) {
        // OpenCV resizes with INTER_AREA only when both axes shrink; otherwise its linear path with
        // area-style fractions on both axes.
        let areaUpscale = spec.interpolation == .area && (placement.resizedWidth > width || placement.resizedHeight > height)
        let x = AxisTable.make(source: width, resized: placement.resizedWidth,
                               range: placement.cropLeft..<(placement.cropLeft + placement.visibleWidth),
                               interpolation: spec.interpolation, areaUpscale: areaUpscale)
        self.x = x
        y = AxisTable.make(source: height, resized: placement.resizedHeight,
                           range: placement.cropTop..<(placement.cropTop + placement.visibleHeight),
                           interpolation: spec.interpolation, areaUpscale: areaUpscale)
        xSpan = x.sourceSpan
        contiguous = x.taps == 1 && x.index.enumerated().allSatisfy { Int($0.element) == Int(x.index[0]) + $0.offset }
        adjacent = x.taps == 2 && stride(from: 0, to: x.index.count, by: 2).allSatisfy { k in
            x.index[k + 1] == x.index[k] + 1 || x.weight[k + 1] == 0
        }
        let width = Int32(placement.visibleWidth)
        guard adjacent, width >= 4 else { groups = []; return }
        var layout = [UInt8](repeating: 0, count: hp_resample_groups_size(width))
        x.index.withUnsafeBufferPointer { xi in
            x.weight.withUnsafeBufferPointer { xw in
                layout.withUnsafeMutableBytes { out in
                    var plan = HPResamplePlan()
                    plan.dstWidth = width
                    plan.xTaps = 2
                    plan.xIndex = xi.baseAddress
                    plan.xWeight = xw.baseAddress
                    hp_resample_build_groups(&plan, out.baseAddress!)
                }
            }
        }
        groups = layout
    }
}

/// The last few image sizes' taps, shared by the copies of one preprocessor.
final class TapCache: Sendable {
    private struct Size: Hashable { let width: Int, height: Int }
    private let entries = Mutex<[Size: SlotTaps]>([:])
    private static let capacity = 16

    func taps(width: Int, height: Int, placement: ImagePlacement, spec: PreprocessSpec) -> SlotTaps {
        let key = Size(width: width, height: height)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let made = SlotTaps(width: width, height: height, placement: placement, spec: spec)
        entries.withLock { cache in
            if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = made
        }
        return made
    }
}

/// One image's work for one slot: its tap tables and where it lands. Rows of the slot can be
/// written by different threads in any order; each writes only its own rows.
struct SlotJob: @unchecked Sendable {
    let pixels: Tensor
    let width: Int, height: Int
    let placement: ImagePlacement
    let slot: Int
    let taps: SlotTaps
    var x: AxisTable { taps.x }
    var y: AxisTable { taps.y }
    let channelMap: [Int32]
    let spec: PreprocessSpec
    let tables: ChannelTables
    let geometry: SlotGeometry

    init(image: Image, placement: ImagePlacement, slot: Int, preprocessor: Preprocessor) throws(ImagingError) {
        let spec = preprocessor.spec
        pixels = image.pixels
        width = image.width; height = image.height
        self.placement = placement
        self.slot = slot
        taps = preprocessor.tapCache.taps(width: width, height: height, placement: placement, spec: spec)
        channelMap = image.order.channelMap(to: spec.order)
        self.spec = spec
        tables = preprocessor.tables
        geometry = SlotGeometry(spec: spec, elementSize: preprocessor.tables.elementSize)
    }

    /// Writes slot rows `rows` (padding included) into the batch at `batchBase`.
    func writeRows(_ rows: Range<Int>, batchBase: UnsafeMutableRawPointer, isa: HPKernelISA) {
        let e = tables.elementSize, g = geometry, p = placement
        let slotBase = batchBase + slot * g.slotElements * e
        let first = max(rows.lowerBound, p.padTop), end = min(rows.upperBound, p.padTop + p.visibleHeight)
        let imageRows = first..<max(first, end)
        tables.pad.withUnsafeBytes { pad in
            func fill(row: Int, from column: Int, count: Int) {
                guard count > 0 else { return }
                hp_fill_rect(slotBase + (row * g.rowStride + column * g.pixelStride) * e, g.rowStride, g.pixelStride, g.channelStride,
                             Int32(count), 1, 3, Int32(e), pad.baseAddress!)
            }
            for row in rows {
                if imageRows.contains(row) {
                    fill(row: row, from: 0, count: p.padLeft)
                    fill(row: row, from: p.padLeft + p.visibleWidth, count: p.padRight)
                } else {
                    fill(row: row, from: 0, count: spec.width)
                }
            }
        }
        guard !imageRows.isEmpty else { return }
        let resampling = x.taps > 1 || y.taps > 1
        let xSpan = taps.xSpan, contiguous = taps.contiguous, adjacent = taps.adjacent
        // Scratch rows, not cleared: the vertical pass writes the sums the horizontal pass weighs;
        // only the tail past the last column read (which 512-bit loads may touch, weighted 0) is zeroed.
        let accCount = resampling ? width * 3 + 32 : 1
        let acc = UnsafeMutableBufferPointer<Int32>.allocate(capacity: accCount)
        defer { acc.deallocate() }
        let tail = min(accCount, xSpan.upperBound * 3)
        acc[tail...].initialize(repeating: 0)
        let levels = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, p.visibleWidth * 3))
        defer { levels.deallocate() }
        let a = tables.scale, b = tables.bias
        let arithmetic: Int32 = spec.dtype == .float16 || spec.dtype == .float32 ? 1 : 0
        pixels.withUnsafeBytes { src in
            x.index.withUnsafeBufferPointer { xi in x.weight.withUnsafeBufferPointer { xw in
            y.index.withUnsafeBufferPointer { yi in y.weight.withUnsafeBufferPointer { yw in
            tables.table.withUnsafeBytes { lut in taps.groups.withUnsafeBytes { groups in
                // Field by field: one initializer call with every field is too much for the type checker.
                var plan = HPResamplePlan()
                plan.src = src.baseAddress!.assumingMemoryBound(to: UInt8.self)
                plan.srcWidth = Int32(width); plan.srcHeight = Int32(height); plan.srcRowStride = width * 3
                plan.srcColumnBegin = Int32(xSpan.lowerBound); plan.srcColumnEnd = Int32(xSpan.upperBound)
                plan.dstWidth = Int32(p.visibleWidth); plan.dstHeight = Int32(p.visibleHeight)
                plan.xTaps = Int32(x.taps); plan.yTaps = Int32(y.taps)
                plan.xIndex = xi.baseAddress; plan.xWeight = xw.baseAddress; plan.yIndex = yi.baseAddress; plan.yWeight = yw.baseAddress
                plan.xContiguous = contiguous ? 1 : 0; plan.xAdjacent = adjacent ? 1 : 0
                plan.channelMap = (channelMap[0], channelMap[1], channelMap[2])
                plan.dst = slotBase + (p.padTop * g.rowStride + p.padLeft * g.pixelStride) * e
                plan.dstRowStride = g.rowStride; plan.dstPixelStride = g.pixelStride; plan.dstChannelStride = g.channelStride
                plan.elementSize = Int32(e); plan.lut = lut.baseAddress; plan.arithmetic = arithmetic
                plan.scale = (a[0], a[1], a[2]); plan.bias = (b[0], b[1], b[2])
                plan.groups = groups.baseAddress.map { UnsafeRawPointer($0) }
                hp_resample_rows(isa, &plan, Int32(imageRows.lowerBound - p.padTop), Int32(imageRows.upperBound - p.padTop),
                                 acc.baseAddress!, levels.baseAddress!)
            } }
            } }
            } }
        }
    }
}
