import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// `quantize`'s run check: the written model runs where it goes, nodes the backend refuses going
/// back to float by name and the rewrite repeated, never a model that fails on its first run.
@Suite struct QuantizedRunCheckTests {
    /// x[batch, 4, 8, 8] → Conv c1 → Relu → Conv c2 → the ViT interpolation of `LimitModels`
    /// (Transpose, a cubic Resize to sizes computed in the graph, Transpose) → y.
    static func convThenComputedResize() throws -> Model {
        var generator = SeededGenerator(seed: 5)
        func weights(_ name: String, _ dims: [Int]) throws -> Initializer {
            try LimitModels.floats(name, (0..<dims.reduce(1, *)).map { _ in Float.random(in: -0.5...0.5, using: &generator) }, dims)
        }
        let resize = try LimitModels.transposedResize(.float32, input: .computedSizes)
        for node in resize.graph.nodes { node.inputs = node.inputs.map { $0 == "x" ? "c2" : $0 } }
        let convs = [
            Node(opType: "Conv", name: "c1", inputs: ["x", "w1", "b1"], outputs: ["c1"], attributes: [LimitModels.attribute("pads", ints: [1, 1, 1, 1])]),
            Node(opType: "Relu", name: "r1", inputs: ["c1"], outputs: ["r1"]),
            Node(opType: "Conv", name: "c2", inputs: ["r1", "w2", "b2"], outputs: ["c2"]),
        ]
        let x = ValueInfo(name: "x", elementType: .float32, shape: [.symbol("batch"), .fixed(4), .fixed(8), .fixed(8)])
        return ModelBuilder.model(opset: 19, nodes: convs + resize.graph.nodes, inputs: [x], outputs: resize.graph.outputs,
                                  initializers: resize.graph.initializers + [try weights("w1", [8, 4, 3, 3]), try weights("b1", [8]),
                                                                             try weights("w2", [3, 8, 1, 1]), try weights("b2", [3])])
    }

    static func job(_ options: QuantizationOptions, on backend: any Backend = ORTBackend()) throws -> QuantizationJob {
        var generator = SeededGenerator(seed: 2)
        let feeds = try (0..<3).map { _ in ["x": try Tensor.random(dtype: .float32, shape: [1, 4, 8, 8], generator: &generator)] }
        var job = QuantizationJob(options: options, runtime: ExecutionTarget(backend: backend),
                                  calibration: .data(.init(source: "random batches", measuresRanges: true, batches: { _ in feeds })))
        job.accuracyGuard = false  // the run check is under test, on random data
        return job
    }

    static var everyLayer: QuantizationOptions {
        var options = QuantizationOptions()
        options.everyLayer = true  // the layers are too small for int8 to pay; the run check is under test
        options.floatOutputLayers = 0
        return options
    }

    /// `--rest fp16` on a model with the ViT's interpolation: the float16 Resize ONNX Runtime
    /// refuses at run time goes back to float32 by name, the convolutions stay int8, and the
    /// written model runs at another batch size. Without the run check the same job writes a model
    /// that fails on its first run.
    @Test func restInFloat16SendsTheRefusedNodeBackToFloat32() throws {
        let dir = try TestMaterial.temporaryDirectory("quantize-run-check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("model.onnx").path
        try Self.convThenComputedResize().save(to: input)
        var options = Self.everyLayer
        options.rest = .float16
        let output = dir.appendingPathComponent("int8.onnx").path
        let outcome = try Self.job(options).run(input: input, output: output)
        let report = outcome.report
        #expect(report.quantizedLayers == 2, "\(report.decisions)")
        #expect(report.warnings.contains { $0.hasPrefix("Resize 'resize' kept in float32: onnxruntime refused it") }, "\(report.warnings)")
        #expect(report.runCheck?.hasPrefix("ran once in onnxruntime on the first calibration batch after 1 node(s) went back to float") == true,
                "\(String(describing: report.runCheck))")
        let written = try ORTSession(contentsOf: output)
        _ = try written.run(["x": try Tensor(dtype: .float32, shape: [2, 4, 8, 8])])

        var unchecked = try Self.job(options)
        unchecked.runCheck = false
        let bad = dir.appendingPathComponent("unchecked.onnx").path
        _ = try unchecked.run(input: input, output: bad)
        #expect(throws: ORTError.self) { try ORTSession(contentsOf: bad).run(["x": try Tensor(dtype: .float32, shape: [2, 4, 8, 8])]) }
    }

    /// ONNX Runtime, except that it refuses a model where a node named in `refused` has int8
    /// weights (behind a DequantizeLinear), naming the node as ONNX Runtime does.
    struct Int8ShyBackend: Backend {
        let inner = ORTBackend()
        let refused: Set<String>
        var name: String { "int8-shy" }
        struct Refused: Error { var node: String }
        func unavailability(on device: Device) -> String? { nil }
        func mayRefuse(_ node: Node, computing type: DType) -> Bool { false }
        func supports(_ node: Node, _ context: NodeContext) -> NodeSupport { .supported }
        func refusal(in error: any Error) -> NodeRefusal? {
            (error as? Refused).map { NodeRefusal(nodeName: $0.node, opType: "Conv", message: "no int8 kernel for this Conv") }
        }
        func makeSession(_ model: ModelSource, device: Device, options: SessionOptions) throws -> any Session {
            if case .bytes(let data, _) = model {
                let m = Model(proto: try Model.decode(data, path: "probe"))
                let dequantized = Set(m.graph.nodes.filter { $0.opType == "DequantizeLinear" }.flatMap(\.outputs))
                if let node = m.graph.nodes.first(where: { refused.contains($0.name) && dequantized.contains($0.inputs[1]) }) { throw Refused(node: node.name) }
            }
            return try inner.makeSession(model, device: device, options: options)
        }
    }

    /// An int8 layer the backend refuses goes back to float with its pairs and weights; the other
    /// layers stay int8, its decision says why, and the model runs.
    @Test func aRefusedInt8LayerGoesBackToFloat() throws {
        let dir = try TestMaterial.temporaryDirectory("quantize-run-check-int8")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("model.onnx").path
        try Self.convThenComputedResize().save(to: input)
        let output = dir.appendingPathComponent("int8.onnx").path
        let report = try Self.job(Self.everyLayer, on: Int8ShyBackend(refused: ["c2"])).run(input: input, output: output).report
        #expect(report.decisions.filter(\.quantized).map(\.node) == ["c1"], "\(report.decisions)")
        let c2 = report.decisions.first { $0.node == "c2" }
        #expect(c2?.reason?.hasPrefix("int8-shy refused it on the quantized model's first run: no int8 kernel") == true, "\(String(describing: c2))")
        #expect(report.warnings.contains { $0.hasPrefix("Conv 'c2' refused: the int8 node(s) it belongs to ('c2') went back to float") }, "\(report.warnings)")
        let written = try Model.load(contentsOf: output)
        let weightsOfC2 = written.graph.nodes.first { $0.name == "c2" }?.inputs[1]
        #expect(weightsOfC2 == "w2", "c2 keeps its float32 weights")
        _ = try ORTSession(contentsOf: output).run(["x": try Tensor(dtype: .float32, shape: [1, 4, 8, 8])])

        // A backend that refuses every int8 layer leaves nothing to quantize: an error, no file.
        let none = dir.appendingPathComponent("none.onnx").path
        #expect { try Self.job(Self.everyLayer, on: Int8ShyBackend(refused: ["c1", "c2"])).run(input: input, output: none) } throws: {
            "\($0)".firstRange(of: "no layer could be quantized: int8-shy refused it") != nil
        }
        #expect(!FileManager.default.fileExists(atPath: none))
    }
}

/// Statistics runs expose intermediates as outputs, which can stop the runtime's own rewrites.
@Suite struct ExposedStatisticsTests {
    /// Every value of the ViT interpolation exposed: ONNX Runtime no longer folds the Transposes and
    /// refuses the cubic Resize; the values leading into it go unmeasured and the rest is measured.
    @Test func valuesThatMakeTheRuntimeRefuseANodeAreLeftOut() throws {
        let model = try QuantizedRunCheckTests.convThenComputedResize()
        var generator = SeededGenerator(seed: 3)
        var batches = try (0..<2).map { _ in ["x": try Tensor.random(dtype: .float32, shape: [1, 4, 8, 8], generator: &generator)] }[...]
        let statistics = try ActivationStatistics.collect(model: model, on: ExecutionTarget(backend: ORTBackend())) { batches.popFirst() }
        #expect(statistics.batches == 2)
        #expect(!statistics.unmeasured.isEmpty && statistics.unmeasured.values.allSatisfy { $0 == "Resize 'resize'" }, "\(statistics.unmeasured)")
        #expect(statistics.values["c1"] != nil && statistics.values["y"] != nil)
        #expect(statistics.values.keys.allSatisfy { statistics.unmeasured[$0] == nil })
    }
}
