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

    @Test func rejectsZeroRuns() throws {
        let r = try CLI.run(["bench", try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"), "--runs", "0"])
        #expect(r.status == 2)
    }
}
