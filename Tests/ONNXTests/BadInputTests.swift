import Foundation
import TestSupport
import Testing
import Tensors
@testable import ONNX

/// Bad files give an `ONNXError` naming the file and the problem: never a crash or a hang.
@Suite struct BadInputTests {
    private func write(_ bytes: Data, _ name: String) throws -> String {
        let url = try TestMaterial.temporaryDirectory("bad").appendingPathComponent(name)
        try bytes.write(to: url)
        return url.path
    }

    private func expectMalformed(_ path: String, mentioning words: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Model.load(contentsOf: path)
            Issue.record("loading \(path) succeeded", sourceLocation: sourceLocation)
        } catch {
            let text = error.description
            #expect(text.hasPrefix(path), "error does not name the file: \(text)", sourceLocation: sourceLocation)
            #expect(!text.contains("\n"), "error is not one line: \(text)", sourceLocation: sourceLocation)
            for w in words { #expect(text.contains(w), "'\(w)' missing from: \(text)", sourceLocation: sourceLocation) }
        }
    }

    @Test func missingFile() { expectMalformed("/nonexistent/model.onnx", mentioning: "no such file") }

    @Test func emptyFile() throws { expectMalformed(try write(Data(), "empty.onnx"), mentioning: "empty") }

    @Test func everyTruncationOfARealModelIsRejectedOrValid() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")))
        let dir = try TestMaterial.temporaryDirectory("truncated")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Cut at 200 points through the file; each prefix must fail cleanly.
        for i in 1..<200 {
            let cut = original.count * i / 200
            let path = dir.appendingPathComponent("t\(i).onnx").path
            try original.prefix(cut).write(to: URL(fileURLWithPath: path))
            #expect(throws: ONNXError.self, "prefix of \(cut) bytes") { try Model.load(contentsOf: path) }
        }
    }

    @Test func randomBytes() throws {
        var generator = SystemRandomNumberGenerator()
        for i in 0..<50 {
            let bytes = Data((0..<(64 + i * 97)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let path = try write(bytes, "random\(i).onnx")
            #expect(throws: ONNXError.self) { try Model.load(contentsOf: path) }
        }
    }

    @Test func otherFileTypes() throws {
        expectMalformed(try TestMaterial.path("images/skimage/astronaut.png"))
        expectMalformed(try write(Data("{\"ir_version\": 8}".utf8), "model.json"))
        expectMalformed(try TestMaterial.path("onnx-tests/node/test_abs/test_data_set_0/input_0.pb"), mentioning: "protobuf decoding failed")
        // A well-formed protobuf holding only an unknown field is still not a model.
        expectMalformed(try write(Data([0xf8, 0x3e, 0x2a]), "unknown.onnx"), mentioning: "not an ONNX model")
    }

    @Test func negativeAndAbsurdDimensions() throws {
        for dims: [Int64] in [[-3, 4], [1 << 40, 1 << 40]] {
            var proto = Onnx_ModelProto()
            proto.irVersion = 8
            var t = Onnx_TensorProto()
            t.name = "w"
            t.dataType = DType.float32.rawValue
            t.dims = dims
            proto.graph.initializer = [t]
            let path = try write(try proto.serializedBytes(), "dims.onnx")
            expectMalformed(path, mentioning: "'w'")
        }
    }

    @Test func rawDataOfTheWrongSize() throws {
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        var t = Onnx_TensorProto()
        t.name = "w"
        t.dataType = DType.float32.rawValue
        t.dims = [4]
        t.rawData = Data(count: 12)
        proto.graph.initializer = [t]
        expectMalformed(try write(try proto.serializedBytes(), "size.onnx"), mentioning: "raw_data", "'w'")
    }

    @Test func deeplyNestedMessagesDoNotOverflowTheStack() throws {
        // 10,000 nested If subgraphs would recurse without bound; protobuf's depth limit stops it.
        var graph = Onnx_GraphProto()
        for _ in 0..<200 {
            var node = Onnx_NodeProto()
            node.opType = "If"
            var a = Onnx_AttributeProto()
            a.name = "then_branch"
            a.type = .graph
            a.g = graph
            node.attribute = [a]
            graph = Onnx_GraphProto()
            graph.node = [node]
        }
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        proto.graph = graph
        let path = try write(try proto.serializedBytes(), "deep.onnx")
        #expect(throws: ONNXError.self) { try Model.load(contentsOf: path) }
    }
}
