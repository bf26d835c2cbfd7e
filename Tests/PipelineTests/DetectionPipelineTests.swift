import Detection
import Foundation
import Imaging
import Inference
import ONNX
import ONNXRuntime
import Pipeline
import Tensors
import TestSupport
import Testing

@Suite(.serialized) struct DetectionPipelineTests {
    static let opencvData = "/usr/share/doc/opencv-doc/examples/data"

    static func pictures() throws -> [String] {
        try ["astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "camera.png", "text.png"].map { try TestMaterial.path("images/skimage/\($0)") }
            + ["messi5.jpg", "fruits.jpg", "building.jpg", "sudoku.png", "imageTextN.png"].map { "\(opencvData)/\($0)" }
    }

    /// The pipeline over the real detector: the batch-rewritten model, two host lanes,
    /// batches of 3 (the last one partial).
    static func pipeline(_ source: any FrameSource, keepImages: Bool = false) throws -> (DetectionPipeline, Preprocessor) {
        let target = ExecutionTarget(backend: ORTBackend())
        let model = try Model.load(contentsOf: try TestMaterial.path("models/ddddocr/common_det.onnx"))
        let (bytes, _) = try BatchRewrite.rewrite(model, input: "images") { try target.session($0) }
        let sessions = try (0..<2).map { _ in try target.session(.bytes(try #require(bytes), name: "batched")) }
        let preprocessor = try Preprocessor(spec: PreprocessSpec.preset(named: "yolox416")!)
        let decoder = try HeadDecoder.recognise([HeadOutput(name: "output", shape: [1, 3549, 6])], inputWidth: 416, inputHeight: 416)
        let post = try Postprocessor(decoder: decoder, scoreThreshold: 0.1, nms: NonMaximumSuppression(iouThreshold: 0.45), mapping: .letterboxGain)
        var configuration = PipelineConfiguration()
        configuration.batchSize = 3
        configuration.keepImages = keepImages
        let postprocessing = CPUPostprocessing(post)
        let lanes = try sessions.map { try HostDetectionLane(session: $0, inputName: "images", preprocessor: preprocessor, postprocessor: postprocessing, batchSize: 3) }
        return (try DetectionPipeline(source: source, lanes: lanes, configuration: configuration), preprocessor)
    }

    /// Same boxes as ONNX Runtime + numpy decoding + cv2.dnn.NMSBoxesBatched (bench/detect_peer.py)
    /// on the same preprocessed batch: same count, IoU ≥ 0.99, same class, per image.
    @Test func matchesThePythonReferenceOnRealImages() throws {
        let files = try Self.pictures()
        let (pipeline, preprocessor) = try Self.pipeline(ImageFileSource(files: files, order: .bgr))
        var results: [FrameResult] = []
        let report = try pipeline.run { results += $0.frames }
        #expect(report.frames == files.count && report.batches == 4)
        #expect(results.map(\.info.index) == Array(0..<files.count) && results.map(\.info.source) == files)

        let dir = try TestMaterial.temporaryDirectory("detect-reference")
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = try ImageDecoder(order: .bgr).decode(files: files)
        let (batch, _) = try preprocessor.batch(images, size: images.count)
        let batchPath = dir.appendingPathComponent("batch.npy").path, refPath = dir.appendingPathComponent("ref.json").path
        try NPY.write(batch, to: batchPath)
        let python = try TestMaterial.runPython("../bench/detect_peer.py", ["reference", "--model", try TestMaterial.path("models/ddddocr/common_det.onnx"),
                                                "--score", "0.1", "--iou", "0.45", "--batch", batchPath, "--out", refPath] + files)
        #expect(python.status == 0, "\(python.output)")
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: refPath))) as! [String: Any]
        let expected = reference["images"] as! [[String: Any]]
        var boxes = 0, worst: Float = 1
        for (ours, theirs) in zip(results, expected) {
            let detections = theirs["detections"] as! [[String: Any]]
            #expect(ours.detections.count == detections.count, "\(ours.info.source)")
            var unused = Array(ours.detections.indices)
            for d in detections {
                let b = (d["box"] as! [Double]).map(Float.init)
                let box = Box(x1: b[0], y1: b[1], x2: b[2], y2: b[3])
                let best = unused.max { ours.detections[$0].box.iou(box) < ours.detections[$1].box.iou(box) }
                guard let best else { Issue.record("\(ours.info.source): a reference box has no partner"); continue }
                unused.removeAll { $0 == best }
                worst = min(worst, ours.detections[best].box.iou(box))
                #expect(ours.detections[best].classIndex == d["class"] as! Int)
                boxes += 1
            }
        }
        #expect(boxes >= 25, "the real pictures give boxes to compare")
        #expect(worst >= 0.99, "worst IoU \(worst) over \(boxes) boxes")
    }

    /// A corrupt file among real pictures of different sizes: its frame comes back in its place,
    /// with the reason; every other frame is detected, in order.
    @Test func everyFrameIsAccountedForInOrder() throws {
        let dir = try TestMaterial.temporaryDirectory("detect-corrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let corrupt = dir.appendingPathComponent("broken.jpg").path
        try Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]).write(to: URL(fileURLWithPath: corrupt))
        var files = try Self.pictures()
        files.insert(corrupt, at: 4)
        let (pipeline, _) = try Self.pipeline(ImageFileSource(files: files, order: .bgr), keepImages: true)
        var results: [FrameResult] = []
        let report = try pipeline.run { results += $0.frames }
        #expect(report.frames == files.count && report.failedFrames == 1)
        #expect(results.map(\.info.source) == files)
        #expect(results[4].error?.firstRange(of: "broken.jpg") != nil && results[4].detections.isEmpty)
        #expect(results.filter { $0.error == nil }.allSatisfy { $0.image != nil && $0.info.width == $0.image!.width })
        #expect(Set(results.map(\.info.width)).count > 4, "frames of many sizes in one run")
    }

    /// vtest.avi through GStreamer: all 795 frames in order with their timestamps (10 fps).
    @Test func readsEveryFrameOfARealVideo() throws {
        let reader = try VideoReader(source: "\(Self.opencvData)/vtest.avi")
        var count = 0
        var last: Double = -1
        while let frame = try reader.next() {
            #expect(frame.index == count && frame.image.width == 768 && frame.image.height == 576)
            let t = try #require(frame.timestamp)
            #expect(t > last)
            last = t
            count += 1
        }
        #expect(count == 795)
        #expect(abs(last - 79.4) < 0.01)
        #expect(reader.framesPerSecond == 10)
    }

    @Test func writesAVideoThatReadsBack() throws {
        let dir = try TestMaterial.temporaryDirectory("video-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.avi").path
        let writer = try VideoWriter(path: path, width: 64, height: 48, framesPerSecond: 10)
        for i in 0..<12 {
            let pixels = try Tensor(shape: [48, 64, 3], elements: [UInt8](repeating: UInt8(i * 20), count: 48 * 64 * 3))
            try writer.write(try Image(pixels: pixels, order: .rgb))
        }
        #expect(try writer.finish() == 12)
        let reader = try VideoReader(source: path)
        var frames: [VideoFrame] = []
        while let f = try reader.next() { frames.append(f) }
        #expect(frames.count == 12)
        // MPEG-4 is lossy; a flat frame stays close to its grey level.
        let middle = try frames[6].image.pixels.elements(as: UInt8.self)
        #expect(abs(Int(middle[middle.count / 2]) - 120) <= 4)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.avi"], "no partial file left")
    }

    @Test func unreadableVideosAreClearErrors() throws {
        #expect { try VideoReader(source: "/nonexistent/video.avi") } throws: { "\($0)".firstRange(of: "no such file") != nil }
        let dir = try TestMaterial.temporaryDirectory("video-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.avi").path
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: text))
        #expect { try VideoReader(source: text) } throws: { error in
            guard case VideoError.unreadable(let source, _) = error else { return false }
            return source == text
        }
    }
}
