import Foundation
import Testing

/// `halfpipe detect` through the real binary: a real video to JSON lines, an annotated video, a
/// trace and a report; real pictures to COCO results and annotated images; a clear error (exit 2,
/// nothing written) for each kind of bad input.
@Suite(.serialized) struct DetectCommandTests {
    static let video = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

    static func temporary(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-detect-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    static var model: String { get throws { try CLI.material("models/ddddocr/common_det.onnx") } }

    static func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// 43 frames of vtest.avi at batch 4 (the last batch partial), the fixed-batch model rewritten:
    /// every frame in order with its timestamp, an annotated video of the same 43 frames that reads
    /// back, a Chrome trace with the stages on their own tracks, and the report.
    @Test func realVideoToLinesAnnotatedVideoTraceAndReport() throws {
        let out = Self.temporary("video.jsonl"), annotated = Self.temporary("annotated.avi")
        let trace = Self.temporary("trace.json"), report = Self.temporary("report.json")
        let r = try CLI.run(["detect", try Self.model, Self.video, "--image-preset", "yolox416", "--score", "0.1", "--batch", "4", "--frames", "43",
                             "-o", out, "--annotate", annotated, "--trace", trace, "--report", report, "--profile"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("batch rewritten from 1 to 4 (3 Reshapes changed, checked against batch 1)"), "\(r.stderr)")
        #expect(r.stderr.contains("batch 10 (3 frames): decode"), "the per-batch profile line, the last batch partial")
        #expect(r.stdout.isEmpty, "with -o nothing goes to standard output")
        let frames = try Self.lines(out)
        #expect(frames.map { $0["frame"] as! Int } == Array(0..<43))
        #expect(frames.map { $0["source_frame"] as! Int } == Array(0..<43))
        #expect(abs((frames[42]["timestamp"] as! Double) - 4.2) < 1e-6)
        #expect(frames.allSatisfy { $0["width"] as? Int == 768 && $0["height"] as? Int == 576 })
        let boxes = frames.flatMap { $0["detections"] as! [[String: Any]] }
        #expect(boxes.count > 100)
        #expect(boxes.allSatisfy { b in
            let box = b["box"] as! [Double]
            return box[0] >= 0 && box[2] <= 768 && box[1] >= 0 && box[3] <= 576 && box[0] <= box[2] && (b["score"] as! Double) > 0.1
        })

        // The annotated video holds the same frames: read it back through the same command.
        let again = Self.temporary("annotated.jsonl")
        let back = try CLI.run(["detect", try Self.model, annotated, "--image-preset", "yolox416", "-o", again])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try Self.lines(again).count == 43)

        let traceJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace))) as! [String: Any]
        let spans = (traceJSON["traceEvents"] as! [[String: Any]]).filter { $0["ph"] as? String == "X" }
        #expect(Set(spans.map { $0["name"] as! String }) == ["decode", "preprocess", "inference", "postprocess", "sink"])
        #expect(spans.filter { $0["name"] as? String == "decode" }.count == 43)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        #expect(summary["frames"] as? Int == 43 && summary["batches"] as? Int == 11 && summary["unreadable"] as? Int == 0)
        #expect((summary["inference_fraction"] as! Double) > 0.3)
    }

    /// Still pictures: COCO results, annotated JPEGs, JSON lines on standard output; a blank
    /// threshold of 0.99 gives frames with no detections, each still present.
    @Test func picturesToCOCOAndAnnotatedImages() throws {
        let pictures = try ["rocket.jpg", "motorcycle_left.png", "coffee.png"].map { try CLI.material("images/skimage/\($0)") }
        let coco = Self.temporary("coco.json"), folder = Self.temporary("annotated")
        let r = try CLI.run(["detect", try Self.model] + pictures + ["--image-preset", "yolox416", "--score", "0.1", "--coco", coco, "--annotate", folder])
        #expect(r.status == 0, "\(r.stderr)")
        let frames = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(frames.map { $0["source"] as! String } == pictures)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: coco))) as! [[String: Any]]
        #expect(results.count == frames.reduce(0) { $0 + ($1["detections"] as! [Any]).count } && results.count > 3)
        #expect(results.allSatisfy { ($0["bbox"] as! [Double]).count == 4 && $0["category_id"] as? Int == 0 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["coffee.jpg", "motorcycle_left.jpg", "rocket.jpg"])

        let none = try CLI.run(["detect", try Self.model, pictures[2], "--image-preset", "yolox416", "--score", "0.99"])
        #expect(none.status == 0, "\(none.stderr)")
        let line = try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as! [String: Any]
        #expect((line["detections"] as! [Any]).isEmpty)
    }

    @Test func badInputsAreClearErrorsAndWriteNothing() throws {
        let out = Self.temporary("bad.jsonl")
        // Not a video.
        let notVideo = Self.temporary("notes.avi")
        try Data("plain text".utf8).write(to: URL(fileURLWithPath: notVideo))
        let r1 = try CLI.run(["detect", try Self.model, notVideo, "--image-preset", "yolox416", "-o", out])
        #expect(r1.status == 2 && r1.stderr.contains("notes.avi: cannot read the video"), "\(r1.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".partial"))
        // A classifier: its outputs match no decoder.
        let classifier = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let picture = try CLI.material("images/skimage/coffee.png")
        let r2 = try CLI.run(["detect", classifier, picture, "--image-preset", "paddleocr-cls", "-o", out])
        #expect(r2.status == 2 && r2.stderr.contains("cannot tell how to decode this model's outputs"), "\(r2.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // An output over an input.
        let r3 = try CLI.run(["detect", try Self.model, picture, "--image-preset", "yolox416", "-o", picture])
        #expect(r3.status == 2 && r3.stderr.contains("is an input"), "\(r3.stderr)")
        // A corrupt picture among good ones: every frame reported, exit 2 with the count.
        let broken = Self.temporary("broken.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0, 1]).write(to: URL(fileURLWithPath: broken))
        let r4 = try CLI.run(["detect", try Self.model, picture, broken, "--image-preset", "yolox416", "-o", out])
        #expect(r4.status == 2 && r4.stderr.contains("1 of 2 frames could not be read"), "\(r4.stderr)")
        let frames = try Self.lines(out)
        #expect(frames.count == 2 && frames[1]["error"] != nil && frames[0]["error"] == nil)
    }

    /// A stand-in for an Ultralytics export with a dynamic image size (scripts/make-dynamic-detector.py).
    static func dynamicDetector(metadata: Bool) throws -> String {
        let path = Self.temporary(metadata ? "dynamic.onnx" : "dynamic-bare.onnx")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.packageRoot.appendingPathComponent(".venv/bin/python").path)
        p.arguments = [CLI.packageRoot.appendingPathComponent("scripts/make-dynamic-detector.py").path, path] + (metadata ? [] : ["--no-metadata"])
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return path
    }

    /// A detector whose image size is symbolic runs at the size its metadata records (Ultralytics'
    /// imgsz) with its class names, or at --size; a --size off the model's stride, or no size at all,
    /// is a clear error.
    @Test func dynamicSizeDetectorTakesItsMetadataOrSize() throws {
        let pictures = [try CLI.material("images/skimage/astronaut.png"), try CLI.material("images/skimage/coffee.png")]
        let model = try Self.dynamicDetector(metadata: true), out = Self.temporary("dynamic.jsonl")
        let r = try CLI.run(["detect", model] + pictures + ["-o", out])
        #expect(r.status == 0 && r.stderr.contains("'images' 320x320 (HxW)"), "\(r.stderr)")
        let labels = Set(try Self.lines(out).flatMap { ($0["detections"] as! [[String: Any]]).map { $0["label"] as! String } })
        #expect(try Self.lines(out).count == 2 && !labels.isEmpty && labels.isSubset(of: ["person", "car"]), "\(labels)")
        #expect(!r.stderr.contains("(multi-label)"), "Ultralytics' default is the best class")
        let sized = try CLI.run(["detect", model] + pictures + ["-o", out, "--size", "256x192", "--multi-label"])
        #expect(sized.status == 0 && sized.stderr.contains("'images' 256x192 (HxW)") && sized.stderr.contains("(multi-label)"), "\(sized.stderr)")
        let off = try CLI.run(["detect", model] + pictures + ["-o", out, "--size", "300x300"])
        #expect(off.status == 2 && off.stderr.contains("multiples of 32"), "\(off.stderr)")
        let bare = try CLI.run(["detect", try Self.dynamicDetector(metadata: false)] + pictures + ["-o", out])
        #expect(bare.status == 2 && bare.stderr.contains("give --size HxW"), "\(bare.stderr)")
        // Every command that feeds pictures reads the same metadata (quantize once said "the model records none").
        let int8 = Self.temporary("dynamic-int8.onnx"), fp16 = Self.temporary("dynamic-fp16.onnx"), images = pictures.flatMap { ["--images", $0] }
        let quantized = try CLI.run(["quantize", model, "-o", int8, "--keep-output-layers", "0", "--every-layer"] + images)
        #expect(quantized.status == 0 && quantized.stdout.contains("run check: ran once"), "\(quantized.stderr) \(quantized.stdout)")
        let converted = try CLI.run(["convert", model, "-o", fp16, "--to", "mixed"] + images)
        #expect(converted.status == 0, "\(converted.stderr)")
        let benched = try CLI.run(["bench", model] + images + ["--runs", "1", "--warmup", "0"])
        #expect(benched.status == 0, "\(benched.stderr)")
    }

    /// A GFL head (PP-PicoDet) is never run on Ultralytics' letterbox silently: a PaddlePaddle
    /// export gets PaddleDetection's own preprocessing, another producer's a warning naming it.
    @Test func gflHeadGetsItsFamilysPreprocessingOrAWarning() throws {
        let picture = try CLI.material("images/skimage/astronaut.png"), out = Self.temporary("gfl.jsonl")
        func model(_ producer: String?) throws -> String {
            let path = Self.temporary("gfl-\(producer ?? "paddle").onnx")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.packageRoot.appendingPathComponent(".venv/bin/python").path)
            p.arguments = [CLI.packageRoot.appendingPathComponent("scripts/make-gfl-detector.py").path, path] + (producer.map { ["--producer", $0] } ?? [])
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            return path
        }
        let paddle = try CLI.run(["detect", try model(nil), picture, "-o", out])
        #expect(paddle.status == 0 && paddle.stderr.contains("PaddleDetection's preprocessing") && paddle.stderr.contains("picodet320")
                && !paddle.stderr.contains("warning") && paddle.stderr.contains("(multi-label)"), "\(paddle.stderr)")
        // Multi-label is PaddleDetection's default; --no-multi-label turns it off.
        let single = try CLI.run(["detect", try model(nil), picture, "-o", out, "--no-multi-label"])
        #expect(single.status == 0 && !single.stderr.contains("(multi-label)"), "\(single.stderr)")
        let other = try model("nanodet")
        let warned = try CLI.run(["detect", other, picture, "-o", out])
        #expect(warned.status == 0 && warned.stderr.contains("warning: a GFL head") && warned.stderr.contains("--image-preset picodet320"), "\(warned.stderr)")
        let given = try CLI.run(["detect", other, picture, "-o", out, "--image-preset", "picodet320"])
        #expect(given.status == 0 && !given.stderr.contains("warning"), "\(given.stderr)")
    }

    /// vtest.avi cut to 100 kB decodes 2 frames and then just ends: the run says where and why,
    /// writes nothing and exits 2; with --allow-partial it keeps the 2 frames and warns.
    @Test func truncatedVideoIsAnErrorUnlessPartialIsAllowed() throws {
        let cut = Self.temporary("cut.avi"), out = Self.temporary("cut.jsonl")
        try Data(try Data(contentsOf: URL(fileURLWithPath: "/usr/share/doc/opencv-doc/examples/data/vtest.avi")).prefix(100_000))
            .write(to: URL(fileURLWithPath: cut))
        let r = try CLI.run(["detect", try Self.model, cut, "--image-preset", "yolox416", "-o", out])
        #expect(r.status == 2 && r.stderr.contains("the stream ended after 2 frames") && r.stderr.contains("truncated")
                && r.stderr.contains("--allow-partial"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written for a stream that stopped early")
        let partial = try CLI.run(["detect", try Self.model, cut, "--image-preset", "yolox416", "-o", out, "--allow-partial"])
        #expect(partial.status == 0 && partial.stderr.contains("warning:") && partial.stderr.contains("truncated"), "\(partial.stderr)")
        #expect(try Self.lines(out).count == 2)
    }

    /// Outputs into a missing folder fail before the run, naming the option; a text file named
    /// .mp4 is "not a video", not a missing codec.
    @Test func badOutputsAndNonVideosFailFirstWithTheRightReason() throws {
        let picture = try CLI.material("images/skimage/coffee.png"), out = Self.temporary("early.jsonl")
        for option in ["--coco", "--trace", "--report", "-o"] {
            let r = try CLI.run(["detect", try Self.model, picture, "--image-preset", "yolox416", option, "/no/such/folder/x.json"]
                                + (option == "-o" ? [] : ["-o", out]))
            #expect(r.status == 2 && r.stderr.contains("\(option) /no/such/folder/x.json: the folder /no/such/folder does not exist")
                    && !r.stderr.contains("detect: 1 frames"), "\(option): \(r.stderr)")
        }
        let text = Self.temporary("clip.mp4")
        try Data("not a video at all\n".utf8).write(to: URL(fileURLWithPath: text))
        let r = try CLI.run(["detect", try Self.model, text, "--image-preset", "yolox416", "-o", out])
        #expect(r.status == 2 && r.stderr.contains("not a video GStreamer recognises") && !r.stderr.contains("gstreamer1.0-libav"), "\(r.stderr)")
    }
}
