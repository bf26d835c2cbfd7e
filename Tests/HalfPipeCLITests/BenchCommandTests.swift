import Foundation
import Testing

/// `halfpipe bench` through the real binary.
@Suite struct BenchCommandTests {
    @Test(arguments: [false, true])
    func reportsLatencyPercentilesAsJSON(binding: Bool) throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let r = try CLI.run(["bench", model, "--shape", "x=1x3x48x192", "--batch", "2", "--runs", "5", "--warmup", "1", "--json"] + (binding ? ["--binding"] : []))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let p50 = try #require(json["p50Ms"] as? Double), p99 = try #require(json["p99Ms"] as? Double)
        #expect(p50 > 0 && p50 <= p99)
        #expect(json["runs"] as? Int == 5)
        #expect(json["binding"] as? Bool == binding)
        #expect((json["peakMemoryMB"] as? Int ?? 0) > 0)
    }

    /// Real pictures through the classifier's preset: preprocessing becomes a measured stage.
    @Test func imagesAddAPreprocessStage() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let images = ["--images", try CLI.material("images/skimage/text.png"), "--images", try CLI.material("images/skimage/page.png")]
        let r = try CLI.run(["bench", model, "--image-preset", "paddleocr-cls", "--runs", "5", "--warmup", "1", "--json"] + images)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["preprocessP50Ms"] as? Double ?? 0) > 0)
        #expect(json["batch"] as? Int == 2)
        // A preset whose size differs from a model's fixed input size is refused (ddddocr's detector: 416x416).
        let detector = try CLI.material("models/ddddocr/common_det.onnx")
        let wrong = try CLI.run(["bench", detector, "--image-preset", "yolo640", "--runs", "1"] + images.prefix(2))
        #expect(wrong.status == 2 && wrong.stderr.contains("416x416"), "\(wrong.stderr)")
    }

    @Test func rejectsZeroRuns() throws {
        let r = try CLI.run(["bench", try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"), "--runs", "0"])
        #expect(r.status == 2)
    }
}
