import Foundation
import Testing

/// `halfpipe run` through the real binary.
@Suite struct RunCommandTests {
    let classifier = "models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"

    @Test func runsARealModelAndWritesAnNpz() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).npz").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["run", try CLI.material(classifier), "--random", "--shape", "x=2x3x48x192", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("save_infer_model/scale_0.tmp_1: float [2, 2]"))
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test(arguments: [
        (["--random"], "has symbolic dimensions; give them with --shape x="),
        (["--random", "--shape", "x=1x3x48x192", "--provider", "cuda"], "install the `onnxruntime-gpu` wheel"),
        (["--random", "--shape", "x=1x3x48x192", "--provider", "tensorrt"], "TensorRT execution provider is not enabled in this build"),
        (["--random", "--shape", "y=1x3x48x192"], "the model has no input 'y'"),
        (["--input", "x"], "--input x: write it as name=file.npy"),
        ([], "input 'x' is missing"),
    ])
    func badInputExitsWithCodeTwo(_ extra: [String], _ message: String) throws {
        let r = try CLI.run(["run", try CLI.material(classifier)] + extra)
        #expect(r.status == 2)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test func missingModelExitsWithCodeTwo() throws {
        let r = try CLI.run(["run", "/nonexistent/model.onnx", "--random"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("File doesn't exist"), "\(r.stderr)")
    }
}
