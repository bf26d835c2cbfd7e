import Foundation
import Imaging
import Tensors
import Testing

/// Our resampling against OpenCV's `cv2.resize` and letterbox geometry against Ultralytics' and
/// OpenCV's formulas, on reference data saved by scripts/make-imaging-reference.py.
@Suite struct ReferenceResizeTests {
    struct ResizeCase: Decodable {
        let name: String, src: String, out: String, dst_h: Int, dst_w: Int, interpolation: String
    }

    /// Stretch to the case's size, uint8 NHWC out: the resampled levels themselves.
    static func resize(_ image: Image, height: Int, width: Int, interpolation: PreprocessSpec.Interpolation, kernels: Preprocessor.KernelLevel = .best) throws -> [UInt8] {
        var spec = PreprocessSpec(height: height, width: width)
        spec.resize = .stretch
        spec.interpolation = interpolation
        spec.layout = .nhwc
        spec.dtype = .uint8
        spec.order = image.order
        let pre = try Preprocessor(spec: spec, kernels: kernels)
        var batch = try pre.makeBatch(size: 1)
        try pre.run([image], into: &batch)
        return ImagingReference.bytes(batch)
    }

    @Test(arguments: ["linear", "area", "nearest"])
    func matchesOpenCVResizeWithinOneLevel(interpolation: String) throws {
        let cases = try ImagingReference.json("resize/index.json", as: [ResizeCase].self).filter { $0.interpolation == interpolation }
        #expect(cases.count >= 20)
        let mode: PreprocessSpec.Interpolation = interpolation == "linear" ? .bilinear : (interpolation == "area" ? .area : .nearest)
        var exact = 0, total = 0
        for c in cases {
            let src = try ImagingReference.array("resize/\(c.src)")
            let expected = ImagingReference.bytes(try ImagingReference.array("resize/\(c.out)"))
            let ours = try Self.resize(Image(pixels: src, order: .bgr), height: c.dst_h, width: c.dst_w, interpolation: mode)
            for level in [Preprocessor.KernelLevel.avx2, .portable] {
                let other = try Self.resize(Image(pixels: src, order: .bgr), height: c.dst_h, width: c.dst_w, interpolation: mode, kernels: level)
                #expect(ours == other, "\(c.name): the best and \(level) kernels differ")
            }
            let diffs = zip(ours, expected).map { abs(Int($0) - Int($1)) }
            let worst = diffs.max() ?? 0
            #expect(ours.count == expected.count && worst <= 1, "\(c.name): max difference \(worst) levels from cv2.resize")
            exact += diffs.filter { $0 == 0 }.count
            total += diffs.count
        }
        // Nearest neighbour has no arithmetic: it must be exact.
        if mode == .nearest { #expect(exact == total) }
        print("cv2.resize \(interpolation): \(cases.count) cases, \(exact) of \(total) values identical")
    }

    struct GeometryFile: Decodable { let entries: [GeometryEntry] }
    struct Geometry: Decodable, Equatable { let new_h: Int, new_w: Int, top: Int, bottom: Int, left: Int, right: Int }
    struct GeometryEntry: Decodable { let h: Int, w: Int, th: Int, tw: Int, ultralytics: Geometry, opencv: Geometry, degenerate: Bool }

    @Test func letterboxGeometryEqualsUltralyticsAndOpenCV() throws {
        let entries = try ImagingReference.json("geometry.json", as: GeometryFile.self).entries
        #expect(entries.count > 900)
        var checked = 0
        for e in entries {
            for (rounding, expected) in [(PreprocessSpec.Rounding.round, e.ultralytics), (.truncate, e.opencv)] {
                var spec = PreprocessSpec(height: e.th, width: e.tw)
                spec.rounding = rounding
                let p = try ImagePlacement.make(width: e.w, height: e.h, spec: spec)
                let ours = Geometry(new_h: p.resizedHeight, new_w: p.resizedWidth, top: p.padTop, bottom: p.padBottom, left: p.padLeft, right: p.padRight)
                if e.degenerate {
                    // Both tools compute a zero side there (cv2.resize then fails); we keep one pixel.
                    #expect(min(ours.new_h, ours.new_w) == 1)
                } else {
                    #expect(ours == expected, "\(e.h)x\(e.w) -> \(e.th)x\(e.tw) \(rounding)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1800)
    }

    @Test func theSeedCaseGives427Versus426Rows() throws {
        let ultralytics = try ImagePlacement.make(width: 1500, height: 1000, spec: PreprocessSpec.preset(named: "yolo640")!)
        let opencv = try ImagePlacement.make(width: 1500, height: 1000, spec: PreprocessSpec.preset(named: "opencv640")!)
        #expect(ultralytics.resizedHeight == 427 && ultralytics.padTop == 106 && ultralytics.padBottom == 107)
        #expect(opencv.resizedHeight == 426 && opencv.padTop == 107 && opencv.padBottom == 107)
    }

    struct LetterboxFile: Decodable { let entries: [LetterboxEntry] }
    struct LetterboxEntry: Decodable { let name: String, image: String, opencv_blob: String, ultralytics: String }

    /// The whole pipeline, decode included, against OpenCV's blobFromImageWithParams and Ultralytics.
    @Test func letterboxBlobsMatchOpenCVAndUltralytics() throws {
        let entries = try ImagingReference.json("letterbox/index.json", as: LetterboxFile.self).entries
        #expect(entries.count >= 4)
        for e in entries {
            let image = try ImageDecoder(order: .bgr).decode(file: e.image)
            for (preset, file) in [("opencv640", e.opencv_blob), ("yolo640", e.ultralytics)] {
                let pre = try Preprocessor(spec: PreprocessSpec.preset(named: preset)!)
                var batch = try pre.makeBatch(size: 1)
                try pre.run([image], into: &batch)
                let ours = try batch.elements(as: Float.self)
                let expected = try ImagingReference.array("letterbox/\(file)").elements(as: Float.self)
                #expect(ours.count == expected.count)
                // One uint8 level of resampling difference at most; padding and scaling bit-exact.
                let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1.0 / 255 + 1e-6, "\(e.name) \(preset): max difference \(worst * 255) levels")
                let borderOurs = ours[0], borderTheirs = expected[0]
                #expect(borderOurs.bitPattern == borderTheirs.bitPattern, "\(e.name) \(preset): pad value")
            }
        }
    }
}
