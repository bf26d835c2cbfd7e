import Foundation
import Imaging
import Tensors
import Testing
@testable import ImagingCUDA

/// The record the kernel reads is defined once: the generated C struct, the staged words and the
/// kernel's field reads all follow `PreprocessRecord.Field`.
@Suite struct PreprocessRecordTests {
    /// The fields of the generated C struct, in declaration order.
    static func cFields(_ declaration: String) -> [String] {
        declaration.split(separator: "\n").compactMap { line in
            let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            guard words.count >= 2, words[0] == "int", words[1].hasSuffix(";") else { return nil }
            return String(words[1].dropLast())
        }
    }

    @Test func cStructDeclaresTheFieldsInSwiftOrder() {
        let fields = Self.cFields(PreprocessRecord.cDeclaration)
        #expect(fields == PreprocessRecord.Field.allCases.map(\.name))
        #expect(PreprocessRecord.Field.allCases.map(\.rawValue) == Array(0..<PreprocessRecord.wordCount))
        #expect(PreprocessRecord.cDeclaration.contains("sizeof(\(PreprocessRecord.cTypeName)) == \(fields.count) * sizeof(int)"))
        // The kernel source embeds this very declaration.
        #expect(PreprocessKernel.source.contains(PreprocessRecord.cDeclaration))
    }

    /// Each field's value lands in its own word, at the field's index.
    @Test func wordsFollowTheFieldOrder() {
        var record = PreprocessRecord()
        record.pixelOffset = 0x0000_0005_8765_4321
        record.width = 101; record.height = 102; record.padLeft = 103; record.padTop = 104
        record.visibleWidth = 105; record.visibleHeight = 106; record.xTable = 107; record.yTable = 108
        record.xTaps = 109; record.yTaps = 110; record.channelMap = (2, 1, 0)
        let words = record.words
        #expect(words.count == PreprocessRecord.wordCount)
        for field in PreprocessRecord.Field.allCases { #expect(words[field.rawValue] == record.value(of: field), "\(field)") }
        // The layout the kernel has always read (pixel offset low word first, high word last).
        #expect(words == [Int32(bitPattern: 0x8765_4321), 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 2, 1, 0, 5])
        #expect(PreprocessRecord().words == Array(repeating: 0, count: PreprocessRecord.wordCount))
    }

    /// Every `r->name` the kernel reads is a declared field, and no word is read by index any more.
    @Test func kernelReadsOnlyDeclaredFields() {
        let source = PreprocessKernel.source
        let declared = Set(PreprocessRecord.Field.allCases.map(\.name))
        var read: [String] = []
        var rest = Substring(source)
        while let at = rest.range(of: "r->") {
            read.append(String(rest[at.upperBound...].prefix { $0.isLetter || $0.isNumber }))
            rest = rest[at.upperBound...]
        }
        #expect(!read.isEmpty && Set(read).isSubset(of: declared), "\(Set(read).subtracting(declared))")
        #expect(!source.contains("r["))
    }

    /// Sizes 0 through 5 images of odd sizes: every part 64-byte aligned, in order, not overlapping;
    /// each image's pixels where its record points; the tables where the records point.
    @Test(arguments: 0...5) func stagingPlacesEveryPart(count: Int) throws {
        var spec = PreprocessSpec(height: 48, width: 80)
        spec.dtype = .float16
        let cpu = try Preprocessor(spec: spec)
        let images = try (0..<count).map { i in
            let h = 7 + 13 * i, w = 33 + 5 * i
            return try Image(pixels: Tensor(shape: [h, w, 3], elements: (0..<(h * w * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }), order: .bgr)
        }
        let plans = try cpu.plans(for: images)
        let layout = PreprocessStaging(images: images.map { .pixels($0) }, plans: plans, outputTableBytes: cpu.outputTable.count, padBytes: cpu.padElements.count)
        let parts = [layout.recordsAt, layout.tablesAt, layout.outputTableAt, layout.padAt, layout.pixelsAt]
        #expect(parts.allSatisfy { $0 % 64 == 0 } && parts == parts.sorted())
        #expect(layout.tablesAt >= max(count, 1) * PreprocessRecord.wordCount * 4)
        #expect(layout.records.count == max(count, 1))
        var buffer = [UInt8](repeating: 0xEE, count: layout.byteCount)
        buffer.withUnsafeMutableBytes { layout.write(images: images.map { .pixels($0) }, outputTable: cpu.outputTable, pad: cpu.padElements, into: $0) }
        func word(_ at: Int) -> Int32 { buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int32.self) } }
        for (i, (image, plan)) in zip(images, plans).enumerated() {
            let at = layout.recordsAt + i * PreprocessRecord.wordCount * 4
            func field(_ f: PreprocessRecord.Field) -> Int32 { word(at + f.rawValue * 4) }
            let offset = Int(UInt32(bitPattern: field(.pixelOffsetLow))) | Int(field(.pixelOffsetHigh)) << 32
            #expect(offset % 64 == 0 && offset >= layout.pixelsAt)
            let pixels = image.pixels.withUnsafeBytes { Array($0) }
            #expect(Array(buffer[offset..<(offset + pixels.count)]) == pixels)
            #expect(field(.width) == image.width && field(.height) == image.height)
            #expect(field(.visibleWidth) == plan.placement.visibleWidth && field(.xTaps) == plan.xTaps)
            let x = layout.tablesAt + Int(field(.xTable)) * 4, y = layout.tablesAt + Int(field(.yTable)) * 4
            #expect((0..<plan.xIndex.count).map { word(x + $0 * 4) } == plan.xIndex)
            #expect((0..<plan.yWeight.count).map { word(y + (plan.yIndex.count + $0) * 4) } == plan.yWeight)
            #expect([field(.channelMap0), field(.channelMap1), field(.channelMap2)] == plan.channelMap)
        }
        #expect(Array(buffer[layout.outputTableAt..<(layout.outputTableAt + cpu.outputTable.count)]) == cpu.outputTable)
        #expect(Array(buffer[layout.padAt..<(layout.padAt + cpu.padElements.count)]) == cpu.padElements)
    }

    /// JPEGs among decoded pictures: their places are reserved and left unwritten for the device's
    /// decoder, and the upload covers everything else in as few copies as the places allow.
    @Test func jpegPlacesAreReservedAndSkippedByTheUpload() throws {
        let cpu = try Preprocessor(spec: PreprocessSpec(height: 32, width: 32))
        func image(_ w: Int, _ h: Int) throws -> PictureInput {
            .pixels(try Image(pixels: Tensor(shape: [h, w, 3], elements: [UInt8](repeating: 7, count: w * h * 3)), order: .rgb))
        }
        let jpeg = PictureInput.jpeg(EncodedJPEG(bytes: [0xFF, 0xD8], width: 20, height: 10, order: .bgr, source: "x.jpg"))
        let pictures = [try image(5, 3), try image(4, 4), jpeg, try image(6, 2)]
        let plans = try cpu.plans(for: pictures)
        #expect(plans[2].channelMap == [2, 1, 0], "decoded as BGR, read as RGB")
        let layout = PreprocessStaging(images: pictures, plans: plans, outputTableBytes: cpu.outputTable.count, padBytes: cpu.padElements.count)
        #expect(layout.pixelOffsets[3] - layout.pixelOffsets[2] >= 20 * 10 * 3)
        var buffer = [UInt8](repeating: 0xEE, count: layout.byteCount)
        buffer.withUnsafeMutableBytes { layout.write(images: pictures, outputTable: cpu.outputTable, pad: cpu.padElements, into: $0) }
        #expect(buffer[layout.pixelOffsets[2]..<(layout.pixelOffsets[2] + 600)].allSatisfy { $0 == 0xEE }, "the JPEG's place is not written")
        #expect(buffer[layout.pixelOffsets[3]..<(layout.pixelOffsets[3] + 36)].allSatisfy { $0 == 7 })
        let ranges = layout.uploadRanges(pictures)
        #expect(ranges.count == 2 && ranges[0].lowerBound == 0)
        #expect(ranges[0].upperBound == layout.pixelOffsets[1] + 48 && ranges[1] == layout.pixelOffsets[3]..<(layout.pixelOffsets[3] + 36))
        // Decoded pictures only: one copy of the whole area up to the last picture's pixels.
        let plain = [try image(5, 3), try image(4, 4)]
        let flat = PreprocessStaging(images: plain, plans: try cpu.plans(for: plain), outputTableBytes: cpu.outputTable.count, padBytes: cpu.padElements.count)
        #expect(flat.uploadRanges(plain) == [0..<(flat.pixelOffsets[1] + 48)])
    }
}
