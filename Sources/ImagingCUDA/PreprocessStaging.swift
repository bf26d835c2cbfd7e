import Dispatch
import Imaging
import Tensors

/// Where everything the preprocessing kernel reads sits in its one staging buffer, worked out on the
/// host: per-image records | tap tables | output table | pad elements | pixels, each part 64-byte
/// aligned (and each image's pixels too), so a whole batch goes to the device in one copy.
struct PreprocessStaging {
    /// One per image; a single zero record for an empty batch, so the records part is never empty.
    let records: [PreprocessRecord]
    /// Every image's x indices, x weights, y indices, y weights, as the records point into them.
    let tables: [Int32]
    let recordsAt = 0
    let tablesAt: Int, outputTableAt: Int, padAt: Int, pixelsAt: Int
    /// Each image's pixels, in bytes from the buffer's start.
    let pixelOffsets: [Int]
    /// The staging buffer's size.
    let byteCount: Int

    static func align(_ v: Int) -> Int { (v + 63) & ~63 }

    init(images: [PictureInput], plans: [ImagePlan], outputTableBytes: Int, padBytes: Int) {
        var tables: [Int32] = [], records: [PreprocessRecord] = []
        var pixelStarts: [Int] = [], pixelBytes = 0
        for (image, plan) in zip(images, plans) {
            pixelStarts.append(pixelBytes)
            pixelBytes += Self.align(image.pixelBytes)
            var record = PreprocessRecord()
            record.width = Int32(image.width)
            record.height = Int32(image.height)
            let p = plan.placement
            record.padLeft = Int32(p.padLeft); record.padTop = Int32(p.padTop)
            record.visibleWidth = Int32(p.visibleWidth); record.visibleHeight = Int32(p.visibleHeight)
            record.xTable = Int32(tables.count)
            tables += plan.xIndex + plan.xWeight
            record.yTable = Int32(tables.count)
            tables += plan.yIndex + plan.yWeight
            record.xTaps = Int32(plan.xTaps); record.yTaps = Int32(plan.yTaps)
            record.channelMap = (plan.channelMap[0], plan.channelMap[1], plan.channelMap[2])
            records.append(record)
        }
        let recordCount = max(records.count, 1)
        tablesAt = Self.align(recordCount * PreprocessRecord.wordCount * 4)
        outputTableAt = Self.align(tablesAt + tables.count * 4)
        padAt = Self.align(outputTableAt + outputTableBytes)
        let pixelsAt = Self.align(padAt + padBytes)
        let pixelOffsets = pixelStarts.map { pixelsAt + $0 }
        for i in records.indices { records[i].pixelOffset = UInt64(pixelOffsets[i]) }
        self.pixelsAt = pixelsAt
        self.pixelOffsets = pixelOffsets
        self.records = records.isEmpty ? [PreprocessRecord()] : records
        self.tables = tables
        byteCount = pixelsAt + pixelBytes
    }

    /// The records as the words the kernel reads.
    var recordWords: [Int32] { records.flatMap(\.words) }

    /// Writes every part into `buffer` (at least `byteCount` bytes): the pixels of decoded
    /// pictures; a JPEG's place is left for its device to decode into.
    func write(images: [PictureInput], outputTable: [UInt8], pad: [UInt8], into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= byteCount, "a staging buffer of \(buffer.count) bytes for \(byteCount)")
        func put(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
            UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
        }
        recordWords.withUnsafeBytes { put($0, at: recordsAt) }
        tables.withUnsafeBytes { put($0, at: tablesAt) }
        outputTable.withUnsafeBytes { put($0, at: outputTableAt) }
        pad.withUnsafeBytes { put($0, at: padAt) }
        let decoded: [(Image, Int)] = zip(images, pixelOffsets).compactMap { if case .pixels(let image) = $0.0 { (image, $0.1) } else { nil } }
        // A batch of 64 camera frames is ~100 MB: one core copies it at a few GB/s, short of what a
        // GPU lane takes in; the images go to every core.
        let total = decoded.reduce(0) { $0 + $1.0.pixels.byteCount }
        if total >= 8 << 20 && decoded.count > 1 {
            // Each image writes its own disjoint range of the buffer.
            nonisolated(unsafe) let base = buffer
            DispatchQueue.concurrentPerform(iterations: decoded.count) { i in
                let (image, offset) = decoded[i]
                image.pixels.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(rebasing: base[offset..<(offset + src.count)]).copyMemory(from: src)
                }
            }
        } else {
            for (image, offset) in decoded { image.pixels.withUnsafeBytes { put($0, at: offset) } }
        }
    }

    /// The byte ranges to copy to the device: everything up to the pixels, then each decoded
    /// picture's pixels (a JPEG's range is written on the device).
    func uploadRanges(_ images: [PictureInput]) -> [Range<Int>] {
        var ranges = [0..<pixelsAt]
        for (image, offset) in zip(images, pixelOffsets) {
            guard case .pixels = image else { continue }
            // Neighbours apart only by the 64-byte alignment go up as one copy.
            if let last = ranges.last, offset - last.upperBound < 64 { ranges[ranges.count - 1] = last.lowerBound..<(offset + image.pixelBytes) } else {
                ranges.append(offset..<(offset + image.pixelBytes))
            }
        }
        return ranges
    }
}
