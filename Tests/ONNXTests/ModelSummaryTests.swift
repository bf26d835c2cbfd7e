import Foundation
import TestSupport
import Testing
@testable import ONNX

/// `inspect`'s figures, checked against an independent count in Python onnx.
@Suite struct ModelSummaryTests {
    @Test func parameterCountsMatchPythonOnnx() throws {
        let paths = try TestMaterial.realModels.map { try TestMaterial.path($0) } + TestMaterial.lightModels()
        let (status, output) = try TestMaterial.runPython("count-parameters.py", paths)
        #expect(status == 0, "\(output)")
        let expected = try JSONDecoder().decode([String: Int].self, from: Data(output.utf8))
        for path in paths {
            let summary = try ModelSummary(try Model.load(contentsOf: path), path: path)
            #expect(summary.parameters == expected[path], "\(path): ours \(summary.parameters), python \(expected[path] ?? -1)")
        }
    }

    @Test func flagsPPOCRv4DetectorBatchNormVariance() throws {
        let path = try TestMaterial.path("models/rapidocr/ch_PP-OCRv4_det_infer.onnx")
        let summary = try ModelSummary(try Model.load(contentsOf: path), path: path)
        let risk = try #require(summary.risks.overflow.first { $0.tensor == "batch_norm_0.w_2" })
        #expect(risk.consumers == ["BatchNormalization"])
        #expect(risk.largestAbs > 9.7e7 && risk.largestAbs < 9.9e7)
        #expect(summary.risks.largestAbs == risk.largestAbs)
        #expect(summary.inputs.map(\.name) == ["x"])
        #expect(summary.inputs[0].shape?[1] == "3")
        #expect(summary.ops.first { $0.op == "Conv" }?.count == 62)
    }

    @Test func quietModelsHaveNoOverflowRisk() throws {
        let path = try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let summary = try ModelSummary(try Model.load(contentsOf: path), path: path)
        #expect(summary.risks.overflow.isEmpty)
    }
}
