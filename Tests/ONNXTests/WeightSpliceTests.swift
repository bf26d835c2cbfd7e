import Foundation
import SwiftProtobuf
import TestSupport
import Testing
@testable import ONNX

/// The zero-copy weight path must read and write exactly what protobuf does, whichever way the
/// weights are held: initializers, Constant nodes' `value`, several tensor attributes on one node,
/// tensors with unknown fields, and weights below the splice threshold beside ones above it.
@Suite struct WeightSpliceTests {
    private func tensor(_ name: String, floats: Int, seed: UInt8, unknown: Bool = false) throws -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(floats)]
        t.dataType = 1
        t.rawData = Data((0..<(floats * 4)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
        t.docString = "after raw_data"  // field 12: written after raw_data (9)
        if unknown { try t.merge(serializedBytes: Data([0xf8, 0x3e, 0x2a])) }  // field 999
        return t
    }

    private func model(weightsInNodes: Bool) throws -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 10
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 21
        m.opsetImport = [opset]
        var graph = Onnx_GraphProto()
        graph.name = "g"
        for i in 0..<6 {
            var node = Onnx_NodeProto()
            node.opType = weightsInNodes ? "Constant" : "Identity"
            node.name = "n\(i)"
            node.output = ["c\(i)"]
            if weightsInNodes {
                var a = Onnx_AttributeProto()
                a.name = "value"
                a.type = .tensor
                a.t = try tensor("w\(i)", floats: i == 2 ? 8 : 4096 * (i + 1), seed: UInt8(i), unknown: i == 3)
                node.attribute = [a]
                if i == 4 {
                    // A custom node with two tensor attributes around a plain one.
                    node.opType = "Mystery"
                    node.domain = "com.example"
                    var b = Onnx_AttributeProto()
                    b.name = "plain"
                    b.type = .int
                    b.i = 3
                    var c = Onnx_AttributeProto()
                    c.name = "second"
                    c.type = .tensor
                    c.t = try tensor("v\(i)", floats: 300, seed: 9)
                    node.attribute = [a, b, c]
                }
            } else {
                node.input = ["w\(i)"]
                graph.initializer.append(try tensor("w\(i)", floats: i == 2 ? 8 : 4096 * (i + 1), seed: UInt8(i), unknown: i == 3))
            }
            graph.node.append(node)
        }
        m.graph = graph
        return m
    }

    @Test(arguments: [false, true]) func loadAndSaveAreProtobufsOwnBytes(weightsInNodes: Bool) throws {
        let proto = try model(weightsInNodes: weightsInNodes)
        let bytes: Data = try proto.serializedBytes()
        let split = try #require(WeightSplice.split(bytes), "the weights are most of the file: the splice must apply")
        #expect(split.raw.count == (weightsInNodes ? 6 : 5), "every tensor of 256 bytes or more is taken out")
        let dir = try TestMaterial.temporaryDirectory("splice")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("in.onnx"), destination = dir.appendingPathComponent("out.onnx")
        try bytes.write(to: source)
        let loaded = try Model.load(contentsOf: source.path)
        #expect(loaded.message() == proto)
        let chunks = try #require(try WeightSplice.chunks(loaded.message()))
        #expect(chunks.count > 1, "large weights are written from their own buffers")
        #expect(chunks.reduce(Data(), +) == bytes)
        try loaded.save(to: destination.path, externalData: .embed)
        #expect(try Data(contentsOf: destination) == bytes)
    }
}
