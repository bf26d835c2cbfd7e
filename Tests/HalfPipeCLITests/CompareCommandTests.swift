import Foundation
import Testing

/// `halfpipe compare` through the real binary, against FP16 conversions of the PP-OCRv4 detector
/// made by onnxconverter-common (scripts/make-fp16-baseline.py).
@Suite struct CompareCommandTests {
    let classifier = "models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"
    let detector = "models/rapidocr/ch_PP-OCRv4_det_infer.onnx"

    /// FP16 tolerances a correct conversion meets on the detector's probability map (values in
    /// [0, 1], thresholded at 0.3 by DB post-processing). Its logits reach ±48, where one FP16 step
    /// is 2^-5 and sigmoid's slope near the threshold is up to 0.25, so a faithful FP16 model is
    /// off by up to ~0.047 on text edges (measured; p99 0.005, relative L2 0.0034). atol 5e-2 admits
    /// that; rtol 1e-2 is ~10 FP16 steps of relative rounding. The broken model is off by 1.0
    /// (a full 0 → 1 flip) on ~6,000 of 65,536 pixels, far outside either bound.
    let fp16Tolerance = ["--rtol", "1e-2", "--atol", "5e-2"]

    @Test func modelComparedWithItselfPassesWithZeroError() throws {
        let model = try CLI.material(classifier)
        let r = try CLI.run(["compare", model, model, "--random", "--seed", "3", "--shape", "x=4x3x48x192", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let output = try #require(try Self.outputs(r.stdout).first)
        let metrics = try #require(output["metrics"] as? [String: Any])
        #expect(metrics["maxAbsError"] as? Double == 0)
        #expect(metrics["relativeL2"] as? Double == 0)
        #expect(metrics["psnr"] as? String == "inf")
        #expect((metrics["topK"] as? [String: Any])?["top1"] as? Double == 1)
        let text = try CLI.run(["compare", model, model, "--random", "--shape", "x=1x3x48x192"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("PASS: all 1 outputs within tolerance"), "\(text.stdout)")
    }

    /// onnxconverter-common clamps the 1e7 BatchNormalization variance to 1e4: the map is wrong.
    /// Seen: relative L2 0.6336, max abs 1.0, cosine ~0.80 on the seeded text page.
    @Test func brokenFP16DetectorFails() throws {
        let material = try Baselines.shared.get()
        let r = try CLI.run(["compare", try CLI.material(detector), material.broken, "--inputs", material.feed, "--json"] + fp16Tolerance)
        #expect(r.status == 1, "\(r.stderr)")
        let metrics = try #require(try Self.outputs(r.stdout).first?["metrics"] as? [String: Any])
        let relativeL2 = try #require(metrics["relativeL2"] as? Double)
        #expect(relativeL2 > 0.4 && relativeL2 < 0.8, "relative L2 \(relativeL2)")
        #expect(metrics["passed"] as? Bool == false)
    }

    /// Constants lifted to initializers and BatchNormalization kept in FP32: relative L2 ~0.0034.
    @Test func faithfulFP16DetectorPasses() throws {
        let material = try Baselines.shared.get()
        let r = try CLI.run(["compare", try CLI.material(detector), material.faithful, "--inputs", material.feed, "--json"] + fp16Tolerance)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let metrics = try #require(try Self.outputs(r.stdout).first?["metrics"] as? [String: Any])
        let relativeL2 = try #require(metrics["relativeL2"] as? Double)
        #expect(relativeL2 < 0.01, "relative L2 \(relativeL2)")
    }

    /// The same verdicts on real pictures, fed through the preprocessing spec (issue 5's --images):
    /// scikit-image's text page and opencv-doc's text image, letterboxed as PaddleOCR does.
    /// Seen: broken relative L2 0.750 (FAIL), faithful 0.0044 (max abs 0.088, PASS at atol 0.1).
    @Test func realImagesThroughThePreprocessingSpec() throws {
        let material = try Baselines.shared.get()
        let images = ["--images", try CLI.material("images/skimage/page.png"), "--images", "/usr/share/doc/opencv-doc/examples/data/imageTextN.png",
                      "--image-preset", "paddleocr-det", "--json", "--rtol", "1e-2"]
        let broken = try CLI.run(["compare", try CLI.material(detector), material.broken, "--atol", "5e-2"] + images)
        #expect(broken.status == 1, "\(broken.stderr)")
        let brokenL2 = try #require(try Self.outputs(broken.stdout).first?["metrics"] as? [String: Any])["relativeL2"] as? Double
        #expect((brokenL2 ?? 0) > 0.4, "relative L2 \(String(describing: brokenL2))")
        let faithful = try CLI.run(["compare", try CLI.material(detector), material.faithful, "--atol", "1e-1"] + images)
        #expect(faithful.status == 0, "\(faithful.stdout)\n\(faithful.stderr)")
        let faithfulL2 = try #require(try Self.outputs(faithful.stdout).first?["metrics"] as? [String: Any])["relativeL2"] as? Double
        #expect((faithfulL2 ?? 1) < 0.01, "relative L2 \(String(describing: faithfulL2))")
    }

    /// The first intermediate out of tolerance is the clamped running variance itself.
    @Test func allTensorsNamesTheFirstDivergence() throws {
        let material = try Baselines.shared.get()
        let r = try CLI.run(["compare", try CLI.material(detector), material.broken, "--inputs", material.feed, "--all-tensors"] + fp16Tolerance)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("first divergence: batch_norm_0.w_2 (Constant)"), "\(r.stdout.suffix(2000))")
        let json = try CLI.run(["compare", try CLI.material(detector), material.broken, "--inputs", material.feed, "--all-tensors", "--json"] + fp16Tolerance)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((report["firstDivergence"] as? [String: Any])?["name"] as? String == "batch_norm_0.w_2")
        #expect(((report["tensors"] as? [Any])?.count ?? 0) > 100)
    }

    @Test func badInputExitsWithCodeTwo() throws {
        let model = try CLI.material(classifier)
        let corrupt = FileManager.default.temporaryDirectory.appendingPathComponent("corrupt-\(UUID().uuidString).onnx").path
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: corrupt))
        defer { try? FileManager.default.removeItem(atPath: corrupt) }
        let feed = ["--random", "--shape", "x=1x3x48x192"]
        for (arguments, message) in [
            (["/nonexistent/a.onnx", model] + feed, "/nonexistent/a.onnx: no such file"),
            ([model, "/nonexistent/b.onnx", "--all-tensors"] + feed, "/nonexistent/b.onnx"),
            ([model, corrupt] + feed, "Protobuf parsing failed"),
            ([model, model, "--rtol", "-1"] + feed, "Missing value for '--rtol"),  // "-1" reads as an option
            ([model, model, "--rtol=-1"] + feed, "--rtol -1.0: use a finite tolerance ≥ 0"),
            ([model, model, "--atol", "nan"] + feed, "--atol nan: use a finite tolerance ≥ 0"),
            ([model, model], "input 'x' is missing"),
        ] {
            let r = try CLI.run(["compare"] + arguments)
            #expect(r.status == 2, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }

    static func outputs(_ json: String) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["outputs"] as? [[String: Any]] ?? []
    }
}

/// The FP16 detectors and the text-page feed, made once per test run into a temporary folder.
final class Baselines: Sendable {
    struct Material: Sendable {
        var broken: String
        var faithful: String
        var feed: String
    }

    static let shared = Baselines()
    private let made: Result<Material, BaselineError>

    struct BaselineError: Error, CustomStringConvertible {
        var description: String
    }

    private init() {
        made = Result { () throws(BaselineError) -> Material in try Self.make() }
    }

    func get() throws -> Material {
        switch made {
        case .success(let material): return material
        case .failure(let error):
            Issue.record("\(error)")
            throw error
        }
    }

    private static func make() throws(BaselineError) -> Material {
        let python = CLI.packageRoot.appendingPathComponent(".venv/bin/python").path
        let script = CLI.packageRoot.appendingPathComponent("scripts/make-fp16-baseline.py").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw BaselineError(description: "\(python) missing — run scripts/setup.sh")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("compare-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let material = Material(broken: folder.appendingPathComponent("det-fp16-broken.onnx").path,
                                faithful: folder.appendingPathComponent("det-fp16-faithful.onnx").path,
                                feed: folder.appendingPathComponent("text-page.npz").path)
        for arguments in [[material.broken, "--write-feed", material.feed], [material.faithful, "--faithful"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script] + arguments
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            do { try process.run() } catch { throw BaselineError(description: "cannot start \(python): \(error)") }
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if process.terminationStatus == 3 {
                throw BaselineError(description: "onnxconverter-common is missing: `.venv/bin/pip install onnxconverter-common==1.16.0` (\(message))")
            }
            guard process.terminationStatus == 0 else {
                throw BaselineError(description: "make-fp16-baseline.py \(arguments.joined(separator: " ")) failed: \(message.suffix(1500))")
            }
        }
        return material
    }
}
