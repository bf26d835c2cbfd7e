import Foundation
import Inference
@testable import ONNX
import TestSupport
import Testing
import Tensors
@testable import ONNXRuntime

/// Our binding must behave exactly like Python onnxruntime: bit-identical outputs on the real
/// models, and the same verdict on every ONNX node test.
@Suite(.serialized) struct ParityTests {
    @Test func loadsTheWheelsLibrary() throws {
        let library = try ORTLibrary.load()
        #expect(library.version == "1.31.1")
        #expect(library.path.contains(".venv"))
    }

    @Test func realModelOutputsAreBitIdenticalToPythonORT() throws {
        let models = try TestMaterial.realModels.map { try TestMaterial.path($0) }
        let dir = try TestMaterial.temporaryDirectory("ort-reference")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (status, output) = try TestMaterial.runPython("ort-reference.py", ["models", dir.path] + models)
        try #require(status == 0, "\(output)")
        var options = ORTOptions()
        options.intraOpThreads = 1
        for (i, model) in models.enumerated() {
            let feed = try NPZ.read(contentsOf: dir.appendingPathComponent("\(i).feed.npz").path)
            let expected = try NPZ.read(contentsOf: dir.appendingPathComponent("\(i).out.npz").path)
            let session = try ORTSession(contentsOf: model, options: options)
            let outputs = try session.run(Dictionary(uniqueKeysWithValues: feed.map { ($0.name, $0.tensor) }))
            #expect(outputs.count == expected.count)
            for (name, tensor) in expected {
                let ours = try #require(outputs[name], "\(model): no output \(name)")
                #expect(ours.bitwiseEquals(tensor), "\(model): output \(name) differs from Python onnxruntime")
            }
        }
    }

    @Test func nodeTestVerdictsMatchPythonORT() throws {
        let nodeDir = try TestMaterial.path("onnx-tests/node")
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("ort-node-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let (status, output) = try TestMaterial.runPython("ort-reference.py", ["nodetests", nodeDir, json.path])
        try #require(status == 0, "\(output)")
        let python = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: json))
        var ours: [String: String] = [:]
        var options = ORTOptions()
        options.intraOpThreads = 1
        for test in try TestMaterial.nodeTestDirectories() {
            ours[test.lastPathComponent] = NodeTestRunner.verdict(test, options: options)
        }
        // Python's binding cannot feed numpy arrays of ml_dtypes types (bfloat16, float8, int4, …);
        // those tests are a Python-side run error whatever ORT would do, so they are reported apart.
        let mlDtypes: Set<DType> = [.bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .uint4, .int4, .float4e2m1, .float8e8m0, .uint2, .int2]
        var pythonCannotFeed = Set<String>()
        for test in try TestMaterial.nodeTestDirectories() where python[test.lastPathComponent] == "run-error" {
            let model = try Model.load(contentsOf: test.appendingPathComponent("model.onnx").path)
            if (model.graph.inputs + model.graph.outputs).contains(where: { $0.elementType.map(mlDtypes.contains) ?? false }) {
                pythonCannotFeed.insert(test.lastPathComponent)
            }
        }
        let compared = python.keys.filter { !pythonCannotFeed.contains($0) }
        let differing = compared.sorted().filter { python[$0] != ours[$0] }
        let counts = Dictionary(grouping: compared.map { ours[$0] ?? "-" }, by: { $0 }).mapValues(\.count)
        let extra = Dictionary(grouping: pythonCannotFeed.map { ours[$0] ?? "-" }, by: { $0 }).mapValues(\.count)
        print("node tests, verdicts through our binding: \(counts.sorted { $0.key < $1.key }) on \(compared.count) tests Python can feed; Python: \(output.trimmingCharacters(in: .whitespacesAndNewlines)); \(pythonCannotFeed.count) ml_dtypes tests only we can feed: \(extra.sorted { $0.key < $1.key })")
        let summary = "\(differing.count) verdicts differ: " + differing.prefix(20).map { "\($0): ours \(ours[$0] ?? "-"), python \(python[$0] ?? "-")" }.joined(separator: "; ")
        #expect(differing.isEmpty, Comment(rawValue: summary))
        #expect(counts["pass"] == python.values.filter { $0 == "pass" }.count)
    }
}

/// Runs one ONNX node test through our binding, with the verdict rules of scripts/ort-reference.py:
/// inputs and expected outputs read as the model declares them (tensor, sequence or optional), an
/// empty optional input left out of the feed.
enum NodeTestRunner {
    static func verdict(_ test: URL, options: ORTOptions) -> String {
        guard let session = try? ORTSession(contentsOf: test.appendingPathComponent("model.onnx").path, options: options) else { return "load-error" }
        let data = test.appendingPathComponent("test_data_set_0")
        guard let model = try? Model.load(contentsOf: test.appendingPathComponent("model.onnx").path),
              let inputs = try? values(in: data, prefix: "input_", kinds: model.graph.inputs.filter { input in !model.graph.initializers.contains { $0.name == input.name } }.map(\.kind)),
              let expected = try? values(in: data, prefix: "output_", kinds: model.graph.outputs.map(\.kind)) else { return "run-error" }
        var feed: [String: SessionValue] = [:]
        for (description, value) in zip(session.inputs, inputs) where value.unwrapped != nil { feed[description.name] = value }
        guard let outputs = try? session.run(values: feed) else { return "run-error" }
        guard outputs.count == expected.count else { return "mismatch" }
        for (description, want) in zip(session.outputs, expected) {
            guard let got = outputs[description.name], close(got, want) else { return "mismatch" }
        }
        return "pass"
    }

    static func values(in folder: URL, prefix: String, kinds: [ValueKind]) throws -> [SessionValue] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(prefix) && $0.hasSuffix(".pb") }
        let sorted = names.sorted { Int($0.dropFirst(prefix.count).dropLast(3))! < Int($1.dropFirst(prefix.count).dropLast(3))! }
        return try zip(sorted, kinds).map { name, kind in
            let bytes = try Data(contentsOf: folder.appendingPathComponent(name))
            return try ValueProto.decode(bytes, as: kind)
        }
    }

    static func close(_ got: SessionValue, _ want: SessionValue) -> Bool {
        switch (got.unwrapped, want.unwrapped) {
        case (nil, nil): return true
        case (.tensor(let g)?, .tensor(let w)?): return close(g, w)
        case (.sequence(let g)?, .sequence(let w)?): return g.count == w.count && zip(g, w).allSatisfy { close($0, $1) }
        default: return false
        }
    }

    /// numpy's allclose(rtol 1e-3, atol 1e-7, equal_nan) for floats; exact for everything else.
    static func close(_ got: Tensor, _ want: Tensor) -> Bool {
        guard got.shape == want.shape else { return false }
        guard want.dtype.isFloatingPoint, got.dtype == want.dtype, let g = try? got.floatValues(), let w = try? want.floatValues() else {
            return got.bitwiseEquals(want)
        }
        for (a, b) in zip(g, w) {
            if a.isNaN || b.isNaN { if a.isNaN != b.isNaN { return false }; continue }
            if a == b { continue }
            if a.isInfinite || b.isInfinite { return false }  // numpy: only equal infinities are close
            if !(abs(Double(a) - Double(b)) <= 1e-7 + 1e-3 * abs(Double(b))) { return false }
        }
        return true
    }
}

/// ONNX's test-data messages (onnx-data.proto) read with the wire format: a TensorProto, or a
/// SequenceProto (field 3 tensors, 5 sequences, 7 optionals) or OptionalProto (field 3 tensor,
/// 5 sequence, 7 optional; none of them set: the empty optional).
enum ValueProto {
    struct Malformed: Error {}

    static func decode(_ data: Data, as kind: ValueKind) throws -> SessionValue {
        switch kind {
        case .sequence: return try message(data, sequence: true)
        case .optional: return try message(data, sequence: false)
        default: return .tensor(try TensorCodec.decode(try Onnx_TensorProto(serializedBytes: data)))
        }
    }

    private static func message(_ data: Data, sequence: Bool) throws -> SessionValue {
        let parts: [(UInt64, Data)] = try data.withUnsafeBytes { raw in
            guard let fields = WireFormat.fields(raw, 0..<raw.count) else { throw Malformed() }
            return fields.filter { $0.wireType == 2 && [3, 5, 7].contains($0.number) }.map { ($0.number, Data(raw[$0.payload])) }
        }
        let values = try parts.map { number, bytes in
            try decode(bytes, as: number == 3 ? .tensor : (number == 5 ? .sequence : .optional))
        }
        if sequence { return .sequence(values) }
        guard values.count <= 1 else { throw Malformed() }
        return .optional(values.first)
    }
}

/// The I/O binding gives exactly what a plain run gives, run after run, into the same buffers.
@Suite struct IOBindingTests {
    @Test func boundOutputsEqualPlainRunOutputs() throws {
        let session = try ORTSession(contentsOf: try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        var generator = SeededGenerator(seed: 3)
        let feed = ["x": try Tensor.random(dtype: .float32, shape: [2, 3, 48, 192], generator: &generator)]
        let plain = try session.run(feed)
        let binding = try ORTIOBinding(session: session, inputs: feed, outputShapes: plain.mapValues(\.shape))
        for _ in 0..<3 {
            try binding.run()
            for (name, tensor) in plain { #expect(binding.outputs[name]?.bitwiseEquals(tensor) == true, "\(name)") }
        }
    }

    /// Through the seam: new inputs written into the bound buffers are what the next run reads,
    /// and an output read is the caller's own (later runs do not change it).
    @Test func writtenInputsAreReadAndOutputsAreSnapshots() throws {
        let session: any Session = try ORTBackend().makeSession(.file(try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")),
                                                                device: .cpu, options: SessionOptions())
        var generator = SeededGenerator(seed: 4)
        let first = ["x": try Tensor.random(dtype: .float32, shape: [2, 3, 48, 192], generator: &generator)]
        let second = ["x": try Tensor.random(dtype: .float32, shape: [2, 3, 48, 192], generator: &generator)]
        let expectedFirst = try session.run(first), expectedSecond = try session.run(second)
        let bound = try session.bind(inputs: first, outputShapes: expectedFirst.mapValues(\.shape))
        #expect(bound.device == .cpu)
        try bound.run()
        let name = try #require(expectedFirst.keys.first)
        let snapshot = try bound.read(output: name)
        #expect(snapshot.bitwiseEquals(expectedFirst[name]!))
        try bound.write(input: "x", from: second["x"]!)
        try bound.run()
        #expect(try bound.read(output: name).bitwiseEquals(expectedSecond[name]!))
        #expect(snapshot.bitwiseEquals(expectedFirst[name]!), "a later run changed an output already read")
        #expect(!expectedFirst[name]!.bitwiseEquals(expectedSecond[name]!))
        #expect(throws: ORTError.self) { try bound.write(input: "x", from: try Tensor(dtype: .float32, shape: [1, 3, 48, 192])) }
        #expect(throws: ORTError.self) { try bound.read(output: "nope") }
    }

    @Test func missingOutputShapeIsAnError() throws {
        let session = try ORTSession(contentsOf: try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        let feed = ["x": try Tensor(dtype: .float32, shape: [1, 3, 48, 192])]
        #expect(throws: ORTError.self) { try ORTIOBinding(session: session, inputs: feed, outputShapes: [:]) }
    }
}
