import Foundation
import Inference
import ONNX
import TestSupport
import Testing
import Tensors
@testable import ONNXRuntime

/// Every misuse is an `ORTError` with a message that names the input, never a crash.
@Suite struct ORTBadInputTests {
    let classifier = "models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"

    private func session() throws -> ORTSession { try ORTSession(contentsOf: try TestMaterial.path(classifier)) }

    @Test func missingModel() {
        #expect { try ORTSession(contentsOf: "/nonexistent/model.onnx") } throws: { ($0 as? ORTError)?.code == .noSuchFile }
    }

    @Test func corruptModel() {
        #expect { try ORTSession(serialized: Data("not a model".utf8)) } throws: { ($0 as? ORTError)?.code == .invalidProtobuf }
    }

    @Test func missingInput() throws {
        #expect { try session().run([:]) } throws: { error in
            guard let e = error as? ORTError else { return false }
            return e.code == .badInput && e.message.contains("input 'x' is missing")
        }
    }

    @Test func unknownInput() throws {
        let x = try Tensor(dtype: .float32, shape: [1, 3, 48, 192])
        #expect { try session().run(["x": x, "y": x]) } throws: { ($0 as? ORTError)?.message.contains("no input 'y'") == true }
    }

    @Test func wrongElementType() throws {
        let x = try Tensor(dtype: .float16, shape: [1, 3, 48, 192])
        #expect { try session().run(["x": x]) } throws: { ($0 as? ORTError)?.message.contains("is float16 but the model wants x: float") == true }
    }

    @Test func wrongShape() throws {
        let x = try Tensor(dtype: .float32, shape: [1, 4, 48, 192])
        #expect { try session().run(["x": x]) } throws: { ($0 as? ORTError)?.message.contains("has shape 1x4x48x192") == true }
    }

    @Test func unavailableProviderNamesTheWheel() throws {
        var options = ORTOptions()
        options.executionProviders = [.cuda()]
        #expect { try ORTSession(contentsOf: try TestMaterial.path(classifier), options: options) } throws: { error in
            guard let e = error as? ORTError else { return false }
            return e.code == .epFail && e.message.contains("onnxruntime-gpu")
        }
        // TensorRT's own options calls (slots 170-174) exist in the CPU library and refuse there.
        options.executionProviders = [.tensorRT()]
        #expect { try ORTSession(contentsOf: try TestMaterial.path(classifier), options: options) } throws: { error in
            guard let e = error as? ORTError else { return false }
            return e.code == .epFail && e.message.contains("TensorRT execution provider is not enabled") && e.message.contains("onnxruntime-gpu")
        }
        options.executionProviders = [.named("NoSuchProvider")]
        #expect(throws: ORTError.self) { try ORTSession(contentsOf: try TestMaterial.path(classifier), options: options) }
    }

    @Test func providerNamesParse() {
        typealias P = ORTOptions.ExecutionProvider
        #expect(P(parsing: "cpu") == .cpu)
        #expect(P(parsing: "CUDA") == .cuda(device: 0))
        #expect(P(parsing: "cuda:1") == .cuda(device: 1))
        #expect(P(parsing: "tensorrt") == .tensorRT(device: 0))
        #expect(P(parsing: "trt:2") == .tensorRT(device: 2))
        #expect(P(parsing: "XNNPACK") == .named("XNNPACK"))
        #expect(P(parsing: "cuda:x") == .named("cuda:x"))
    }

    @Test func missingLibrarySaysHowToInstall() {
        #expect { try ORTLibrary.load(explicitPath: "/nonexistent/libonnxruntime.so") } throws: { ($0 as? ORTError)?.code == .libraryUnavailable }
    }

    /// float16, bfloat16, bool, int64 and strings survive a trip through ORT unchanged.
    @Test func everyElementTypeRoundTripsThroughIdentity() throws {
        var generator = SeededGenerator(seed: 7)
        for dtype: DType in [.float32, .float16, .bfloat16, .float64, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .bool, .string] {
            let input = try Tensor.random(dtype: dtype, shape: [2, 3], generator: &generator)
            let model = ModelBuilder.model(opset: 21, nodes: [Node(opType: "Identity", inputs: ["x"], outputs: ["y"])],
                                           inputs: [ModelBuilder.tensor("x", dtype, [2, 3])], outputs: [ModelBuilder.tensor("y", dtype, [2, 3])])
            let session = try ORTSession(serialized: try model.serialized(), name: "identity-\(dtype)")
            let output = try #require(try session.run(["x": input])["y"])
            #expect(output.bitwiseEquals(input), "\(dtype) changed through ORT Identity")
        }
    }
}

/// Sequences and optionals through `run(values:)`, on ONNX's own node-test models.
@Suite struct SequenceAndOptionalTests {
    func session(_ test: String) throws -> ORTSession {
        try ORTSession(contentsOf: try TestMaterial.path("onnx-tests/node/\(test)/model.onnx"))
    }

    @Test func sequenceGoesInAndComesOut() throws {
        let a = try Tensor(shape: [2], elements: [Float(1), 2]), b = try Tensor(shape: [3], elements: [Float(3), 4, 5])
        let session = try session("test_identity_sequence")
        let out = try session.run(values: [session.inputs[0].name: .sequence([.tensor(a), .tensor(b)])])
        guard case .sequence(let elements)? = out[session.outputs[0].name] else { Issue.record("not a sequence: \(out)"); return }
        #expect(elements.count == 2)
        if case .tensor(let t) = elements[1] { #expect(t.bitwiseEquals(b)) } else { Issue.record("element 1 is not a tensor") }
    }

    @Test func emptyOptionalInputIsLeftOut() throws {
        // OptionalHasElement on an empty optional input: false.
        let session = try session("test_optional_has_element_empty_optional_input")
        for feed: [String: SessionValue] in [[:], [session.inputs[0].name: .optional(nil)]] {
            let out = try session.run(values: feed)
            guard case .tensor(let t)? = out[session.outputs[0].name] else { Issue.record("no tensor output"); return }
            #expect(try t.elements(as: Bool.self) == [false])
        }
    }

    /// ORT's C API cannot build an empty sequence; we make one with a SequenceEmpty model. Loop13
    /// appends the iteration's values to it: 1..<3 -> [[1], [1, 2]]... as onnx's expected output.
    @Test func emptySequenceIsMadeOfTheDeclaredType() throws {
        let test = try TestMaterial.path("onnx-tests/node/test_loop13_seq")
        let session = try ORTSession(contentsOf: test + "/model.onnx")
        let feed: [String: SessionValue] = ["trip_count": .tensor(try Tensor(shape: [], elements: [Int64(5)])),
                                            "cond": .tensor(try Tensor(shape: [], elements: [true])), "seq_empty": .sequence([])]
        let out = try session.run(values: feed)
        guard case .sequence(let elements)? = out[session.outputs[0].name] else { Issue.record("not a sequence: \(out)"); return }
        #expect(elements.count == 5)
        if case .tensor(let last)? = elements.last { #expect(last.dtype == .float32 && last.elementCount == 5) } else { Issue.record("no tensor") }
    }
}
