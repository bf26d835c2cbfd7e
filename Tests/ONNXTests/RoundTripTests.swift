import Foundation
import SwiftProtobuf
import TestSupport
import Testing
@testable import ONNX

/// Load → save → load must change nothing: for every ONNX node test, the light model-zoo graphs
/// and the real models, the re-loaded message equals the original, and ONNX Runtime computes
/// bit-identical outputs from the saved files (checked by scripts/check-roundtrip-ort.py).
@Suite struct RoundTripTests {
    /// Saves `source` through our IR into `destination`; returns whether the bytes are identical too.
    private func roundTrip(_ source: String, to destination: String) throws -> Bool {
        let original = try Data(contentsOf: URL(fileURLWithPath: source))
        let model = try Model.load(contentsOf: source)
        try model.save(to: destination, externalData: .embed)
        let saved = try Data(contentsOf: URL(fileURLWithPath: destination))
        // Canonical form: the original message re-encoded by swift-protobuf (ONNX has no map fields,
        // so the encoding is deterministic). Message `==` would call NaN attributes unequal.
        let expected: Data = try Onnx_ModelProto(serializedBytes: original).serializedBytes()
        #expect(saved == expected, "round trip changed \(source)")
        // The IR of the re-loaded model serialises to the same bytes again (a fixed point).
        #expect(try Model.load(contentsOf: destination).serialized() == saved, "second round trip differs for \(source)")
        return saved == original
    }

    @Test func nodeTestModelsSurviveRoundTripAndRunIdenticallyInORT() throws {
        let tests = try TestMaterial.nodeTestDirectories()
        #expect(tests.count == 1765, "onnx 1.22.0 ships 1,765 node tests; found \(tests.count)")
        let out = try TestMaterial.temporaryDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(at: out) }
        var identicalBytes = 0
        for test in tests {
            let target = out.appendingPathComponent(test.lastPathComponent)
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            if try roundTrip(test.appendingPathComponent("model.onnx").path, to: target.appendingPathComponent("model.onnx").path) {
                identicalBytes += 1
            }
        }
        print("round trip: \(tests.count) node tests, \(identicalBytes) byte-identical")
        let (status, output) = try TestMaterial.runPython("check-roundtrip-ort.py", [try TestMaterial.path("onnx-tests/node"), out.path])
        print(output)
        #expect(status == 0, "ONNX Runtime outputs differ between original and saved models:\n\(output)")
    }

    @Test func lightAndRealModelsSurviveRoundTrip() throws {
        let models = try TestMaterial.lightModels() + TestMaterial.realModels.map { try TestMaterial.path($0) }
        #expect(models.count == 16)
        let out = try TestMaterial.temporaryDirectory("roundtrip-real")
        defer { try? FileManager.default.removeItem(at: out) }
        var pairs: [String] = []
        for (i, model) in models.enumerated() {
            let target = out.appendingPathComponent("\(i)-" + URL(fileURLWithPath: model).lastPathComponent).path
            _ = try roundTrip(model, to: target)
            pairs += [model, target]
        }
        let (status, output) = try TestMaterial.runPython("check-roundtrip-ort.py", ["--pairs"] + pairs)
        print(output)
        #expect(status == 0, "ONNX Runtime outputs differ between original and saved real models:\n\(output)")
    }

    @Test func unknownFieldsAndDomainsSurvive() throws {
        // A model with an unknown top-level field (number 999), an unknown node field and a custom domain.
        var proto = Onnx_ModelProto()
        proto.irVersion = 10
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = "com.example"
        opset.version = 3
        proto.opsetImport = [opset]
        var node = Onnx_NodeProto()
        node.opType = "Mystery"
        node.domain = "com.example"
        node.input = ["x"]
        node.output = ["y"]
        var attribute = Onnx_AttributeProto()
        attribute.name = "strange"
        attribute.type = .string
        attribute.s = Data("keep me".utf8)
        node.attribute = [attribute]
        try node.merge(serializedBytes: Data([0xf8, 0x3e, 0x2a]))  // field 999, varint 42
        proto.graph.node = [node]
        try proto.merge(serializedBytes: Data([0xba, 0x3e, 0x03, 0x61, 0x62, 0x63]))  // field 999, "abc"
        let bytes: Data = try proto.serializedBytes()
        let url = try TestMaterial.temporaryDirectory("unknown").appendingPathComponent("m.onnx")
        try bytes.write(to: url)
        let model = try Model.load(contentsOf: url.path)
        #expect(model.graph.nodes.first?.opType == "Mystery")
        #expect(try model.serialized() == bytes)
    }
}
