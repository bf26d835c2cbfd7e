import Foundation
import Testing

/// `halfpipe quantize` through the real binary: real images in, a checked INT8 model, the report
/// and the TensorRT cache out, and a clear error (exit 2, nothing written) for each kind of bad input.
@Suite(.serialized) struct QuantizeCommandTests {
    static func temporary(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-quantize-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    static var pictures: [String] {
        get throws { try ["page.png", "text.png", "astronaut.png", "coffee.png", "rocket.jpg"].map { try CLI.material("images/skimage/\($0)") } }
    }

    @Test func quantizesTheClassifierFromRealImagesWithCheckReportAndCache() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        let out = Self.temporary("cls-int8.onnx"), report = Self.temporary("cls-report.json"), cache = Self.temporary("cls.cache")
        var arguments = ["quantize", model, "-o", out, "--image-preset", "paddleocr-cls", "--calibration-batch", "2", "--check",
                         "--report", report, "--write-cache", cache]
        for p in try Self.pictures { arguments += ["--calibration", p] }
        let r = try CLI.run(arguments)
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        // 2 of the 5 pictures held back (at most half): calibration reads 3, the guard judges on 2.
        #expect(r.stdout.contains("2 batch(es), 3 sample(s)") && r.stdout.contains("accuracy guard on 2 held-back sample(s) calibration never saw: a classifier"), "\(r.stdout)")
        #expect(r.stdout.contains("PASS: all 1 outputs within bounds"))
        // No --calibrator: each one judged on the held-back pictures, the best kept.
        #expect(r.stdout.contains("calibrator chosen on the held-back data, every planned layer in int8: entropy classes kept")
                && r.stdout.contains("; minmax classes kept") && r.stdout.contains("; percentile 99.999 classes kept"), "\(r.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        let decisions = json["decisions"] as! [[String: Any]]
        // A small classifier: int8 pays only on its widest layers; the rest say why not.
        #expect(decisions.filter { $0["quantized"] as? Bool == true }.count >= 1)
        #expect(decisions.contains { ($0["reason"] as? String)?.hasPrefix("int8 does not pay here") == true })
        #expect(decisions.allSatisfy { $0["quantized"] as? Bool == true || ($0["reason"] as? String)?.isEmpty == false }, "every float layer says why")
        #expect(try String(contentsOf: URL(fileURLWithPath: cache), encoding: .utf8).hasPrefix("TRT-8601-"), "the chosen calibrator's cache: \(json["method"] ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before, "the input model changed")

        // The cache alone reproduces a model without calibrating.
        let fromCache = Self.temporary("cls-from-cache.onnx")
        let again = try CLI.run(["quantize", model, "-o", fromCache, "--read-cache", cache])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("TensorRT cache"))
    }

    /// A target no INT8 layer can meet on the held-back pictures: exit 1, the best reached said,
    /// nothing written.
    @Test func anUnreachableTargetIsAFailedCheckAndWritesNothing() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let out = Self.temporary("cls-unreachable.onnx")
        var arguments = ["quantize", model, "-o", out, "--image-preset", "paddleocr-cls", "--target-rel-l2", "1e-9"]
        for p in try Self.pictures { arguments += ["--calibration", p] }
        let r = try CLI.run(arguments)
        #expect(r.status == 1 && r.stderr.contains("no layer can run in int8 within target 1.00e-09 on 2 held-back sample(s)")
                && r.stderr.contains("nothing was written"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// --rest fp16: the float layers in float16 around the int8 ones; checked against float32.
    @Test func restInFloat16() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let out = Self.temporary("cls-int8-fp16.onnx")
        var arguments = ["quantize", model, "-o", out, "--image-preset", "paddleocr-cls", "--rest", "fp16", "--check"]
        for p in try Self.pictures { arguments += ["--calibration", p] }
        let r = try CLI.run(arguments)
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        #expect(r.stdout.contains("the rest stays float16") && r.stdout.contains("float layer(s) converted to float16"), "\(r.stdout)")
        #expect(r.stdout.contains("PASS: all 1 outputs within bounds"))
    }

    @Test func badInputIsAClearErrorAndWritesNothing() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let out = Self.temporary("bad-out.onnx")
        func expectError(_ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let r = try CLI.run(["quantize"] + arguments)
            #expect(r.status == 2 && r.stderr.contains(message), "\(arguments): \(r.stderr)", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: out), "an output was written", sourceLocation: sourceLocation)
        }
        // No calibration data; an empty folder.
        try expectError([model, "-o", out], "no calibration data")
        let empty = Self.temporary("empty-dir")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try expectError([model, "-o", out, "--calibration", empty], "hold(s) no images")
        // Samples that do not match the model's input.
        let wrong = Self.temporary("wrong.npy")
        try Self.writeNPY(shape: [1, 48, 192], to: wrong)
        try expectError([model, "-o", out, "--calibration", wrong], "preprocess the samples to the model's input first")
        // A model that is already quantized (ddddocr's dynamically quantized CRNN).
        let quantized = try CLI.material("models/ddddocr/common_old.onnx")
        try expectError([quantized, "-o", out, "--calibration", try Self.pictures[0]], "is quantized already")
        // A model with nothing to quantize.
        try expectError([try Self.addModel(), "-o", out, "--calibration", try Self.pictures[0]], "has no layer to quantize")
        // Corrupt caches, and a cache naming tensors the model lacks.
        let corrupt = Self.temporary("corrupt.cache")
        try Data("TRT-8601-EntropyCalibration2\nx: zz\n".utf8).write(to: URL(fileURLWithPath: corrupt))
        try expectError([model, "-o", out, "--read-cache", corrupt], "is not the 8-digit hex")
        let foreign = Self.temporary("foreign.cache")
        try Data("TRT-8601-EntropyCalibration2\nx: 3c010204\nimages: 3c010204\n".utf8).write(to: URL(fileURLWithPath: foreign))
        try expectError([model, "-o", out, "--read-cache", foreign], "names 1 tensor(s) this model does not have")
        // Bad options.
        try expectError([model, "-o", out, "--calibration", try Self.pictures[0], "--calibrator", "kl2"], "Please provide one of 'entropy', 'minmax' or 'percentile'")
        try expectError([model, "-o", model, "--calibration", try Self.pictures[0]], "is the input model")
    }

    /// A float32 .npy of the given shape (zeros).
    static func writeNPY(shape: [Int], to path: String) throws {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        var text = header
        while (10 + text.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xff), UInt8(text.utf8.count >> 8)])
        data += Data(text.utf8)
        data += Data(count: shape.reduce(1, *) * 4)
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// A model of one Add (x + x): nothing to quantize. Built with the Python onnx package.
    static func addModel() throws -> String {
        let path = temporary("add.onnx")
        let python = CLI.packageRoot.appendingPathComponent(".venv/bin/python").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", """
            import onnx, onnx.helper as h, sys
            g = h.make_graph([h.make_node('Add', ['x', 'x'], ['y'])], 'add',
                             [h.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                             [h.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 8, 8])])
            onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 13)]), sys.argv[1])
            """, path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return path
    }
}
