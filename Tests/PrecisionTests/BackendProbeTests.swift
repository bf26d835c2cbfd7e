import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// The probe's fallback for refusals a backend cannot read back into a node (another ONNX Runtime
/// version's wording, a function body's inner node): one op type at a time back to float32, the
/// op types the message names first.
@Suite struct BackendProbeTests {
    /// ONNX Runtime, except that it refuses any model where a Relu computes in float16, with a
    /// message it cannot read back (as ORT words a function body's type clash).
    struct ReluShyBackend: Backend {
        let inner = ORTBackend()
        let name = "relu-shy"
        struct Refused: Error, CustomStringConvertible {
            var description: String { "Type Error: Type parameter (T) of Optype (Relu) bound to different types (tensor(float16) and tensor(float) in node ()." }
        }
        func unavailability(on device: Device) -> String? { nil }
        func mayRefuse(_ node: Node, computing type: DType) -> Bool { false }
        func supports(_ node: Node, _ context: NodeContext) -> NodeSupport { .supported }
        func refusal(in error: any Error) -> NodeRefusal? { nil }
        func makeSession(_ model: ModelSource, device: Device, options: SessionOptions) throws -> any Session {
            if case .bytes(let data, _) = model {
                let m = Model(proto: try Model.decode(data, path: "probe"))
                let types = TypeInference(m).types(in: m.graph)
                if m.graph.nodes.contains(where: { $0.opType == "Relu" && types[$0.outputs[0]] == .float16 }) { throw Refused() }
            }
            return try inner.makeSession(model, device: device, options: options)
        }
    }

    static func model() throws -> Model {
        let w = Initializer(name: "w", tensor: try Tensor(shape: [4, 3, 1, 1], elements: (0..<12).map { Float($0) / 10 }))
        return ModelBuilder.model(nodes: [
            Node(opType: "Conv", name: "conv", inputs: ["x", "w"], outputs: ["c"]),
            Node(opType: "Relu", name: "relu", inputs: ["c"], outputs: ["r"]),
            Node(opType: "Sigmoid", name: "sig", inputs: ["r"], outputs: ["y"]),
        ], inputs: [ModelBuilder.tensor("x", .float32, [1, 3, 4, 4])], outputs: [ModelBuilder.tensor("y", .float32, [1, 4, 4, 4])], initializers: [w])
    }

    @Test func unreadableRefusalsSendTheNamedOpTypeBack() throws {
        let model = try Self.model()
        let options = ConversionOptions(target: .float16)
        let prepared = try ModelConversion.prepare(model, options: options)
        let (converted, report) = try BackendProbe.convert(prepared: try model.serialized(), report: prepared, options: options,
                                                           on: ExecutionTarget(backend: ReluShyBackend()))
        let types = TypeInference(converted).types(in: converted.graph)
        // Relu, which the message names, went back; Conv and Sigmoid stayed float16.
        #expect(types["r"] == .float32)
        #expect(converted.graph.nodes.contains { $0.opType == "Sigmoid" && types[$0.outputs[0]] == .float16 })
        #expect(report.warnings.contains { $0.hasPrefix("Relu kept in float32: relu-shy refused the model in float16") }, "\(report.warnings)")
        // And the result loads and runs where it goes.
        _ = try ORTBackend().makeSession(.bytes(try converted.serialized(), name: "converted"), device: .cpu, options: SessionOptions())
            .run(["x": try Tensor(shape: [1, 3, 4, 4], elements: [Float](repeating: 0.5, count: 48))])
    }

    /// A refusal that no single op type in float32 cures is an error that says so, not a loop.
    @Test func incurableRefusalsAreAClearError() throws {
        struct Never: Backend {
            let name = "never"
            struct No: Error, CustomStringConvertible { var description: String { "no model today" } }
            func unavailability(on device: Device) -> String? { nil }
            func mayRefuse(_ node: Node, computing type: DType) -> Bool { false }
            func supports(_ node: Node, _ context: NodeContext) -> NodeSupport { .supported }
            func refusal(in error: any Error) -> NodeRefusal? { nil }
            func makeSession(_ model: ModelSource, device: Device, options: SessionOptions) throws -> any Session { throw No() }
        }
        let model = try Self.model()
        let options = ConversionOptions(target: .float16)
        let prepared = try ModelConversion.prepare(model, options: options)
        #expect(throws: PrecisionError.self) {
            try BackendProbe.convert(prepared: try model.serialized(), report: prepared, options: options, on: ExecutionTarget(backend: Never()))
        }
        do {
            _ = try BackendProbe.convert(prepared: try model.serialized(), report: prepared, options: options, on: ExecutionTarget(backend: Never()))
        } catch {
            #expect("\(error)".contains("keeping any single op type in float32 does not help: no model today"))
        }
    }
}
