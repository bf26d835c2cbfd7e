import Foundation
import TestSupport
import Testing
import Tensors
@testable import ONNX

/// External data: written and read with location/offset/length, checked against Python onnx,
/// broken references rejected with the tensor named, and models over 2 GB saved externally.
@Suite struct ExternalDataTests {
    private func weightedModel(elements: Int) throws -> Model {
        let values = (0..<elements).map { Float($0 % 1000) * 0.001 }
        let weight = Initializer(name: "w", tensor: try Tensor(shape: [elements], elements: values))
        let bias = Initializer(name: "tiny", tensor: try Tensor(shape: [2], elements: [Float(1), 2]))
        return ModelBuilder.model(nodes: [Node(opType: "Add", inputs: ["x", "w"], outputs: ["y"])],
                                  inputs: [ModelBuilder.tensor("x", .float32, [elements])],
                                  outputs: [ModelBuilder.tensor("y", .float32, [elements])], initializers: [weight, bias])
    }

    @Test func separateFileRoundTripsAndPythonOnnxReadsIt() throws {
        let dir = try TestMaterial.temporaryDirectory("external")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try weightedModel(elements: 10_000)
        let path = dir.appendingPathComponent("m.onnx").path
        try model.save(to: path, externalData: .separateFile("weights.bin", threshold: 1024))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("weights.bin").path))
        // Without loading, the big tensor is external and the small one inline.
        let lazy = try Model.load(contentsOf: path, loadExternalData: false)
        #expect(lazy.graph.initializers.map(\.isExternal) == [true, false])
        let loaded = try Model.load(contentsOf: path)
        #expect(try loaded.graph.initializers[0].tensor().bitwiseEquals(try model.graph.initializers[0].tensor()))
        let (status, output) = try TestMaterial.runPython("check-external-data.py", [path, "w", "10000"])
        #expect(status == 0, "\(output)")
    }

    /// A save whose commit check says no (the converted graph failed validation beside the
    /// write) leaves nothing behind: no model, no data file, no temporary file; one that says yes
    /// writes as usual. Inline and external data alike.
    @Test(arguments: [ExternalDataPolicy.embed, .separateFile("w.bin", threshold: 1024)])
    func refusedCommitLeavesNothing(policy: ExternalDataPolicy) throws {
        let dir = try TestMaterial.temporaryDirectory("commit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try weightedModel(elements: 10_000)
        let path = dir.appendingPathComponent("m.onnx").path
        #expect(try model.save(to: path, externalData: policy) { false } == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        #expect(try model.save(to: path, externalData: policy) { true })
        #expect(try Model.load(contentsOf: path).graph.initializers.count == 2)
    }

    @Test func readsExternalDataWrittenByPythonOnnx() throws {
        let dir = try TestMaterial.temporaryDirectory("external-py")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("py.onnx").path
        let (status, output) = try TestMaterial.runPython("check-external-data.py", ["--write", path])
        #expect(status == 0, "\(output)")
        let model = try Model.load(contentsOf: path)
        let w = try model.graph.initializers.first { $0.name == "w" }!.tensor()
        let values = try w.elements(as: Float.self)
        #expect(values.count == 4096 && values[4095] == 4095)
    }

    @Test func brokenReferencesNameTheTensor() throws {
        let dir = try TestMaterial.temporaryDirectory("external-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.onnx").path
        try weightedModel(elements: 1000).save(to: path, externalData: .separateFile("d.bin", threshold: 16))
        let data = dir.appendingPathComponent("d.bin")
        // Truncated data file.
        let bytes = try Data(contentsOf: data)
        try bytes.prefix(100).write(to: data)
        #expect { try Model.load(contentsOf: path) } throws: { error in
            guard case .externalData(_, let tensor, let reason) = error as? ONNXError else { return false }
            return tensor == "w" && reason.contains("outside")
        }
        // Missing data file.
        try FileManager.default.removeItem(at: data)
        #expect { try Model.load(contentsOf: path) } throws: { error in
            guard case .externalData(_, "w", let reason) = error as? ONNXError else { return false }
            return reason.contains("cannot read")
        }
    }

    @Test func rejectsLocationsOutsideTheModelFolder() throws {
        let dir = try TestMaterial.temporaryDirectory("external-escape")
        defer { try? FileManager.default.removeItem(at: dir) }
        var proto = try weightedModel(elements: 4).message()
        var t = proto.graph.initializer[0]
        var entry = Onnx_StringStringEntryProto()
        entry.key = "location"
        entry.value = "../../etc/passwd"
        t.externalData = [entry]
        t.dataLocation = .external
        t.clearRawData()
        proto.graph.initializer[0] = t
        let path = dir.appendingPathComponent("m.onnx")
        try (proto.serializedBytes() as Data).write(to: path)
        #expect { try Model.load(contentsOf: path.path) } throws: { error in
            guard case .externalData(_, "w", let reason) = error as? ONNXError else { return false }
            return reason.contains("leaves the model's folder")
        }
    }

    /// protobuf cannot hold 2 GB; `.automatic` must switch to external data and load it back.
    @Test func modelsOverTwoGigabytesUseExternalData() throws {
        let dir = try TestMaterial.temporaryDirectory("external-2g")
        defer { try? FileManager.default.removeItem(at: dir) }
        let elements = 560_000_000  // 2.24 GB of float32
        var big = try Tensor(dtype: .float32, shape: [elements])
        big.withUnsafeMutableBufferPointer(as: Float.self) { $0[elements - 1] = 42 }
        let model = ModelBuilder.model(nodes: [Node(opType: "Identity", inputs: ["w"], outputs: ["y"])],
                                       inputs: [], outputs: [ModelBuilder.tensor("y", .float32, [elements])],
                                       initializers: [Initializer(name: "w", tensor: big)])
        let path = dir.appendingPathComponent("big.onnx").path
        #expect(throws: ONNXError.self) { try model.save(to: dir.appendingPathComponent("embedded.onnx").path, externalData: .embed) }
        try model.save(to: path)
        let onDisk = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(onDisk < 10_000)
        let loaded = try Model.load(contentsOf: path)
        let last = try loaded.graph.initializers[0].tensor().withUnsafeBufferPointer(as: Float.self) { $0[elements - 1] }
        #expect(last == 42)
    }
}
