import Foundation
import Imaging
import Tensors
import TestSupport
import Testing

/// Our libjpeg-turbo/libpng decoding against Pillow and OpenCV on every real image of
/// scikit-image's wheel and Debian's opencv-doc, plus generated EXIF, CMYK, 1-bit, palette,
/// interlaced and 16-bit files.
@Suite struct DecodeTests {
    struct Entry: Decodable {
        let name: String, path: String, format: String, mode: String
        let pillow: String?, opencv: String?
        let pillow_equals_opencv: Bool
        let exif_orientation: Int?
        let bit_depth: Int?
    }

    @Test func decodesEveryRealImageLikeOpenCVAndPillow() throws {
        let entries = try ImagingReference.json("decode/index.json", as: [Entry].self)
        #expect(entries.count > 100)
        var compared = 0, refused: [String] = []
        for entry in entries {
            if entry.mode == "CMYK" {
                // TurboJPEG cannot turn CMYK into RGB; the error must say so and name the file.
                #expect(throws: ImagingError.self) { try ImageDecoder().decode(file: entry.path) }
                do { _ = try ImageDecoder().decode(file: entry.path) } catch {
                    #expect("\(error)".contains(entry.path) && "\(error)".contains("CMYK"))
                }
                refused.append(entry.name)
                continue
            }
            let rgb = try ImageDecoder(order: .rgb).decode(file: entry.path)
            let bgr = try ImageDecoder(order: .bgr).decode(file: entry.path)
            // OpenCV's imread applies the EXIF orientation and keeps 16-bit samples' high byte, as we do.
            let expected: [UInt8]
            if let cv = entry.opencv {
                expected = ImagingReference.reversedChannels(try ImagingReference.array("decode/\(cv)"))
            } else {
                expected = ImagingReference.bytes(try ImagingReference.array("decode/\(entry.pillow!)"))
            }
            let ours = ImagingReference.bytes(rgb.pixels)
            #expect(ours.count == expected.count, "\(entry.name): size \(rgb.width)x\(rgb.height)")
            #expect(ours == expected, "\(entry.name) (\(entry.format) \(entry.mode)) differs from OpenCV/Pillow")
            #expect(ImagingReference.reversedChannels(bgr.pixels) == ours, "\(entry.name): BGR is not RGB reversed")
            compared += 1
        }
        #expect(compared >= 120, "compared \(compared), refused \(refused)")
    }

    @Test func exifOrientationCanBeIgnored() throws {
        let entries = try ImagingReference.json("decode/index.json", as: [Entry].self)
        let rotated = try #require(entries.first { $0.exif_orientation == 6 })
        let raw = try ImageDecoder(applyEXIFOrientation: false).decode(file: rotated.path)
        #expect(ImagingReference.bytes(raw.pixels) == ImagingReference.bytes(try ImagingReference.array("decode/\(rotated.pillow!)")))
        let upright = try ImageDecoder().decode(file: rotated.path)
        #expect(upright.width == raw.height && upright.height == raw.width)
    }

    @Test func badFilesGiveErrorsNamingTheFile() throws {
        let dir = try TestMaterial.temporaryDirectory("decode")
        defer { try? FileManager.default.removeItem(at: dir) }
        let entries = try ImagingReference.json("decode/index.json", as: [Entry].self)
        let jpeg = try #require(entries.first { $0.format == "jpeg" && $0.mode == "RGB" })
        let png = try #require(entries.first { $0.format == "png" && $0.mode == "RGB" })
        var cases: [(String, Data)] = [
            ("empty.jpg", Data()),
            ("text.png", Data("hello, not an image".utf8)),
            ("gif.gif", Data("GIF89a".utf8) + Data(count: 20)),
        ]
        for (source, tag) in [(jpeg.path, "jpg"), (png.path, "png")] {
            let data = try Data(contentsOf: URL(fileURLWithPath: source))
            cases.append(("truncated-half.\(tag)", data.prefix(data.count / 2)))
            cases.append(("truncated-header.\(tag)", data.prefix(20)))
            var flipped = data
            for i in stride(from: data.count / 3, to: data.count / 3 + 64, by: 1) { flipped[i] ^= 0xFF }
            cases.append(("corrupt.\(tag)", flipped))
        }
        for (name, data) in cases {
            let path = dir.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            do {
                let image = try ImageDecoder().decode(file: path)
                // A flipped run of bytes inside PNG data fails its CRC; inside JPEG entropy-coded data it
                // may decode to garbage pixels without a marker error, which is what libjpeg-turbo reports.
                #expect(name.hasPrefix("corrupt.jpg"), "\(name) decoded to \(image.width)x\(image.height) instead of failing")
            } catch {
                #expect("\(error)".contains(path), "\(name): \(error)")
            }
        }
        #expect(throws: ImagingError.self) { try ImageDecoder().decode(file: dir.appendingPathComponent("missing.jpg").path) }
    }

    /// Into a caller's buffer: the same pixels as a fresh decode, for upright and EXIF-turned files;
    /// a buffer of the wrong size is refused.
    @Test func decodesIntoACallersBuffer() throws {
        let entries = try ImagingReference.json("decode/index.json", as: [Entry].self)
        let picks = entries.filter { ["skimage-rocket", "skimage-horse", "generated-exif-6", "opencvdoc-messi5"].contains($0.name) }
        #expect(picks.count == 4)
        let decoder = ImageDecoder()
        for entry in picks {
            let data = try Data(contentsOf: URL(fileURLWithPath: entry.path))
            let (w, h) = try decoder.size(of: data, name: entry.path)
            var buffer = try Tensor(dtype: .uint8, shape: [h, w, 3], zeroed: false)
            try decoder.decode(data, name: entry.path, into: &buffer)
            #expect(buffer.bitwiseEquals(try decoder.decode(data, name: entry.path).pixels), "\(entry.name)")
            var wrong = try Tensor(dtype: .uint8, shape: [h + 1, w, 3])
            #expect(throws: ImagingError.self) { try decoder.decode(data, name: entry.path, into: &wrong) }
        }
    }

    @Test func pixelLimitIsCheckedBeforeDecoding() throws {
        let entries = try ImagingReference.json("decode/index.json", as: [Entry].self)
        let big = try #require(entries.first { $0.name == "skimage-astronaut" })
        do {
            _ = try ImageDecoder(maxPixels: 512 * 511).decode(file: big.path)
            Issue.record("a 512x512 image passed a limit of 512x511 pixels")
        } catch {
            #expect("\(error)".contains("over the limit"))
        }
        #expect(try ImageDecoder(maxPixels: 512 * 512).decode(file: big.path).width == 512)
    }
}
