import Foundation
import Testing

/// `halfpipe convert` through the real binary: the summary, the report, --check, the output file
/// and the errors for bad input (the input file is never modified).
@Suite(.serialized) struct ConvertCommandTests {
    static func temporary(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-convert-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// The demo's job: the PP-OCRv4 detector on real pages, range analysis from the images, the check.
    @Test func convertsTheDetectorWithRangesReportAndCheck() throws {
        let model = try CLI.material("models/rapidocr/ch_PP-OCRv4_det_infer.onnx")
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        let out = Self.temporary("det-fp16.onnx"), report = Self.temporary("det-report.json")
        let r = try CLI.run(["convert", model, "-o", out, "--to", "fp16", "--images", try CLI.material("images/skimage/page.png"),
                             "--image-preset", "paddleocr-det", "--check", "--report", report])
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        #expect(r.stdout.contains("folded 2 BatchNormalization"))
        #expect(r.stdout.contains("range analysis (1 image path(s))"))
        #expect(r.stdout.contains("PASS: all 1 outputs within bounds"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        #expect((json["convertedNodes"] as? Int ?? 0) > 300)
        #expect((json["bytesAfter"] as? Int ?? 0) * 2 <= (json["bytesBefore"] as? Int ?? 0) + 1000)
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before, "the input model changed")
        let size = try FileManager.default.attributesOfItem(atPath: out)[.size] as! Int
        #expect(size < before.count * 6 / 10)
    }

    @Test func checkFailsWithExitCode1WhenOutOfBounds() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let out = Self.temporary("cls-fp16.onnx")
        let r = try CLI.run(["convert", model, "-o", out, "--to", "fp16", "--random", "--shape", "x=1x3x48x192", "--check", "--max-rel-l2", "1e-9"])
        #expect(r.status == 1, "\(r.stderr)\n\(r.stdout)")
        #expect(r.stdout.contains("FAIL"))
    }

    @Test func jsonReportAndBFloat16() throws {
        let model = try CLI.material("models/ddddocr/common_det.onnx")
        let out = Self.temporary("det-bf16.onnx")
        let r = try CLI.run(["convert", model, "-o", out, "--to", "bf16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(json["target"] as? String == "bfloat16")
    }

    /// --to mixed on real pages, and --to mixed-int8 (the quantization job with its accuracy search).
    @Test func mixedPrecisionTargets() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let page = try CLI.material("images/skimage/page.png")
        var r = try CLI.run(["convert", model, "-o", Self.temporary("cls-mixed.onnx"), "--to", "mixed", "--images", page, "--image-preset", "paddleocr-cls"])
        #expect(r.status == 0 && r.stdout.contains("mixed precision: worst output relative L2"), "\(r.stderr)\n\(r.stdout)")
        r = try CLI.run(["convert", model, "-o", Self.temporary("cls-mixed-int8.onnx"), "--to", "mixed-int8", "--images", page, "--image-preset", "paddleocr-cls"])
        #expect(r.status == 0 && r.stdout.contains("accuracy search: worst output relative L2"), "\(r.stderr)\n\(r.stdout)")
        r = try CLI.run(["convert", model, "-o", Self.temporary("cls-mixed-none.onnx"), "--to", "mixed"])
        #expect(r.status == 2 && r.stderr.contains("--to mixed measures the model on inputs"), "\(r.stderr)")
    }

    @Test func badInputIsAClearErrorAndWritesNothing() throws {
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        // Writing over the input.
        var r = try CLI.run(["convert", model, "-o", model, "--to", "fp16"])
        #expect(r.status == 2 && r.stderr.contains("is the input model"), "\(r.stderr)")
        // A model that is already float16.
        let half = Self.temporary("cls-half.onnx")
        r = try CLI.run(["convert", model, "-o", half, "--to", "fp16", "--keep-io-types", "none"])
        #expect(r.status == 0, "\(r.stderr)")
        let again = Self.temporary("cls-half-again.onnx")
        r = try CLI.run(["convert", half, "-o", again, "--to", "fp16"])
        #expect(r.status == 2 && r.stderr.contains("already float16"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: again))
        // Not a model at all, and a bad option.
        let junk = Self.temporary("junk.onnx")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: junk))
        r = try CLI.run(["convert", junk, "-o", Self.temporary("junk-out.onnx"), "--to", "fp16"])
        #expect(r.status == 2 && r.stderr.hasPrefix("halfpipe: error:"), "\(r.stderr)")
        r = try CLI.run(["convert", model, "-o", Self.temporary("x.onnx"), "--to", "fp8"])
        #expect(r.status == 2 && r.stderr.contains("Please provide one of 'fp16', 'bf16', 'mixed' or 'mixed-int8'"), "\(r.stderr)")
        r = try CLI.run(["convert", model, "-o", Self.temporary("x.onnx"), "--to", "fp16", "--input-uint8-nhwc", "nope"])
        #expect(r.status == 2 && r.stderr.contains("has no input 'nope'"), "\(r.stderr)")
    }

    /// A model ORT cannot load: --check says so instead of crashing.
    @Test func modelORTCannotLoadIsAClearError() throws {
        let custom = Self.temporary("custom.onnx")
        // A float model with an unknown custom op: converts (kept float32, warned), ORT refuses it.
        let script = """
        import onnx, sys
        from onnx import helper, TensorProto
        n = [helper.make_node('Relu', ['x'], ['r']), helper.make_node('MyOp', ['r'], ['y'], domain='com.example')]
        g = helper.make_graph(n, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [4])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.example', 1)])
        onnx.save(m, sys.argv[1])
        """
        let python = CLI.packageRoot.appendingPathComponent(".venv/bin/python").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script, custom]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        var r = try CLI.run(["convert", custom, "-o", Self.temporary("custom-fp16.onnx"), "--to", "fp16"])
        #expect(r.status == 0 && r.stdout.contains("warning: custom or non-standard operator MyOp"), "\(r.stdout) \(r.stderr)")
        r = try CLI.run(["convert", custom, "-o", Self.temporary("custom-fp16-checked.onnx"), "--to", "fp16", "--check"])
        #expect(r.status == 2 && r.stderr.contains("MyOp"), "\(r.stderr)")
    }
}
