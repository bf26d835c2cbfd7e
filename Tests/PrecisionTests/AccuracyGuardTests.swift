import Detection
import Foundation
import Imaging
import Inference
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// The default accuracy guard of `quantize`: data held back from calibration, and a judgement
/// shaped by the model's task.
@Suite struct AccuracyGuardTests {
    /// Every count of files from 1 to 40: the held-back files are disjoint from the rest, keep
    /// their order, number max(⌈20 %⌉, min(8, n/2)) but never more than half; fewer than 4 files
    /// hold nothing back.
    @Test func holdingBackSplitsEveryCountOfFiles() throws {
        let dir = try TestMaterial.temporaryDirectory("held-back")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try (0..<40).map { i -> String in
            let path = dir.appendingPathComponent(String(format: "%03d.npy", i)).path
            try Data().write(to: URL(fileURLWithPath: path))
            return path
        }
        for n in 1...40 {
            let data = try CalibrationData(paths: Array(files.prefix(n)))
            let (calibration, heldBack) = data.holdingBack()
            guard n >= 4 else {
                #expect(heldBack == nil && calibration.files == data.files, "n = \(n)")
                continue
            }
            let held = try #require(heldBack).files
            let wanted = min(max(Int((0.2 * Double(n)).rounded(.up)), min(8, n / 2)), n / 2)
            #expect(held.count == wanted, "n = \(n): \(held.count) held back")
            #expect(Set(held).isDisjoint(with: calibration.files) && held.count + calibration.files.count == n, "n = \(n)")
            #expect(held == held.sorted() && calibration.files == calibration.files.sorted(), "n = \(n)")
            // Spread through the files, not the first ones only.
            if n >= 10 { #expect(held.last! > calibration.files[calibration.files.count / 2], "n = \(n)") }
        }
        #expect(try CalibrationData(paths: files).holdingBack(0).heldBack == nil)
        #expect(try CalibrationData(paths: files).holdingBack(0.9, atMost: 12).heldBack?.files.count == 12)
    }

    /// A YOLOv8-shaped head `[1, 4 + 2, 84]` for a 64×64 input: box coordinates in the hundreds,
    /// scores below 1. Halving every score moves the whole tensor by a relative L2 under 1 %
    /// (the coordinates bury it) but the scores by 50 %: the guard's judgement sees it.
    @Test func aDetectorsScoresAreNotBuriedByItsCoordinates() throws {
        let cells = 64 + 16 + 4
        var values = [Float](repeating: 0, count: 6 * cells)
        for a in 0..<cells {
            for k in 0..<4 { values[k * cells + a] = 100 + Float(a + k) }
            values[4 * cells + a] = a == 10 ? 0.9 : 0.01
            values[5 * cells + a] = a == 30 ? 0.8 : 0.02
        }
        let reference = ["output0": try Tensor(shape: [1, 6, cells], elements: values)]
        var halved = values
        for i in (4 * cells)..<(6 * cells) { halved[i] /= 2 }
        let candidate = ["output0": try Tensor(shape: [1, 6, cells], elements: halved)]
        let judge = AccuracyGuard.shaped(reference: reference, feed: ["images": try Tensor(dtype: .float32, shape: [1, 3, 64, 64])])
        guard case .detector(let decoder) = judge.task else { Issue.record("not seen as a detector: \(judge.task)"); return }
        #expect(decoder.layout == .yolov8 && decoder.classCount == 2)
        #expect(judge.parts(of: "output0", shape: [1, 6, cells])?.splits == [0..<4, 4..<6])
        let whole = try TensorComparison(actual: candidate["output0"]!, reference: reference["output0"]!).relativeL2
        let parts = try judge.relativeL2([candidate], against: [reference])
        #expect(whole < 0.01 && abs(parts - 0.5) < 1e-3, "whole \(whole), by parts \(parts)")
        // Decoded, both keep their two boxes (0.45 and 0.4 are still above 0.25): F1 1.
        let kept = AccuracyGuard.matches(try #require(try judge.detections(reference)), try #require(try judge.detections(candidate)))
        #expect(kept.matched == 2 && kept.total == 4)
    }

    /// F1 of the matches: same class and IoU ≥ 0.5, each box used once.
    @Test func boxesMatchByClassAndOverlap() {
        func d(_ x: Float, _ c: Int, _ s: Float = 0.9) -> Detection { Detection(box: Box(x1: x, y1: 0, x2: x + 10, y2: 10), classIndex: c, score: s) }
        let reference = [[d(0, 0), d(20, 1)], [d(0, 0)], []]
        let candidate = [[d(1, 0), d(20, 0)], [d(0, 0), d(0, 0, 0.5)], [d(50, 2)]]
        let m = AccuracyGuard.matches(reference, candidate)
        // Frame 0: the class-0 box matches (IoU 0.82), the class-1 box has no partner of its class;
        // frame 1: one match, one extra; frame 2: one extra.
        #expect(m.matched == 2 && m.total == 3 + 5)
    }

    /// The task read off real models' outputs: the YOLOX text detector and the angle classifier.
    @Test func realModelsAreJudgedByTheirTask() throws {
        let target = ExecutionTarget(backend: ORTBackend())
        let picture = try ImageDecoder().decode(files: [try TestMaterial.path("images/skimage/text.png")])
        func judge(_ model: String, _ preset: String, input: String) throws -> AccuracyGuard {
            let session = try target.session(.file(try TestMaterial.path(model)))
            let feed = [input: try Preprocessor(spec: try #require(PreprocessSpec.preset(named: preset))).batch(picture, size: 1).0]
            return AccuracyGuard.shaped(reference: try session.run(feed), feed: feed)
        }
        let detector = try judge("models/ddddocr/common_det.onnx", "yolox416", input: "images")
        guard case .detector(let decoder) = detector.task else { Issue.record("\(detector.task)"); return }
        #expect(decoder.layout == .yolox && detector.target.boxes == AccuracyGuard.boxAgreement)
        let classifier = try judge("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", "paddleocr-cls", input: "x")
        #expect(classifier.task == .classifier && classifier.target.agreement == AccuracyGuard.agreement)
        let maps = AccuracyGuard.shaped(reference: ["y": try Tensor(dtype: .float32, shape: [1, 1, 8, 8])], feed: ["x": try Tensor(dtype: .float32, shape: [1, 3, 8, 8])])
        #expect(maps.task == .maps && maps.target.relativeL2 == AccuracyGuard.relativeL2)
    }
}
