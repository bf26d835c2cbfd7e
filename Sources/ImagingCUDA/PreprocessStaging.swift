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

    init(images: [Image], plans: [ImagePlan], outputTableBytes: Int, padBytes: Int) {
        var tables: [Int32] = [], records: [PreprocessRecord] = []
        var pixelStarts: [Int] = [], pixelBytes = 0
        for (image, plan) in zip(images, plans) {
            pixelStarts.append(pixelBytes)
            pixelBytes += Self.align(image.pixels.byteCount)
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

    /// Writes every part into `buffer` (at least `byteCount` bytes).
    func write(images: [Image], outputTable: [UInt8], pad: [UInt8], into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= byteCount, "a staging buffer of \(buffer.count) bytes for \(byteCount)")
        func put(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
            UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
        }
        recordWords.withUnsafeBytes { put($0, at: recordsAt) }
        tables.withUnsafeBytes { put($0, at: tablesAt) }
        outputTable.withUnsafeBytes { put($0, at: outputTableAt) }
        pad.withUnsafeBytes { put($0, at: padAt) }
        // A batch of 64 camera frames is ~100 MB: one core copies it at a few GB/s, short of what a
        // GPU lane takes in; the images go to every core.
        let total = images.reduce(0) { $0 + $1.pixels.byteCount }
        if total >= 8 << 20 && images.count > 1 {
            // Each image writes its own disjoint range of the buffer.
            nonisolated(unsafe) let base = buffer
            DispatchQueue.concurrentPerform(iterations: images.count) { i in
                images[i].pixels.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(rebasing: base[pixelOffsets[i]..<(pixelOffsets[i] + src.count)]).copyMemory(from: src)
                }
            }
        } else {
            for (image, offset) in zip(images, pixelOffsets) { image.pixels.withUnsafeBytes { put($0, at: offset) } }
        }
    }
}
