import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// HardSigmoid and HardSwish between int8 layers run as int8 Adds (and a Mul): no float op and no
/// DequantizeLinear → QuantizeLinear detour left, and the values within a few int8 steps of the
/// exact activation over the whole input range.
@Suite(.serialized) struct HardActivationTests {
    /// x (256 values over [−6, 6]) → 1×1 conv (weight 1) → activation → 1×1 conv (weight 1) → y:
    /// y is the activation of x, through int8 on both sides.
    static func model(_ activation: [Node]) throws -> Model {
        ModelBuilder.model(opset: 14, nodes: [Node(opType: "Conv", name: "c1", inputs: ["x", "w1"], outputs: ["a"])] + activation
                               + [Node(opType: "Conv", name: "c2", inputs: ["h", "w2"], outputs: ["y"])],
                           inputs: [ModelBuilder.tensor("x", .float32, [1, 1, 16, 16])],
                           outputs: [ModelBuilder.tensor("y", .float32, [1, 1, 16, 16])],
                           initializers: [try LimitModels.floats("w1", [1], [1, 1, 1, 1]), try LimitModels.floats("w2", [1], [1, 1, 1, 1])])
    }

    static func sweep() throws -> [String: Tensor] {
        ["x": try Tensor(shape: Shape([1, 1, 16, 16]), elements: (0..<256).map { Float($0) / 255 * 12 - 6 })]
    }

    /// Quantizes every layer (output layer included), with the sweep as calibration.
    static func quantize(_ model: Model) throws -> (Model, QDQRewrite.Result) {
        var batches = [try sweep()][...]
        let statistics = try ActivationStatistics.collect(model: model, on: QuantizationModelTests.target, histogramBins: 2048) { batches.popFirst() }
        var options = QuantizationOptions()
        options.everyLayer = true
        options.floatOutputLayers = 0
        options.maxTensorError = .infinity
        let ranges = statistics.values.mapValues { Calibrator.range(of: $0, method: .minMax, symmetric: false) }
        let plan = QuantizationPlan(graph: model.graph, ranges: ranges, options: options)
        #expect(plan.quantizedLayers == ["a", "y"])
        let result = try QDQRewrite.apply(plan, to: model, options: options)
        #expect(Validator.validate(model).isEmpty, "\(Validator.validate(model))")
        return (model, result)
    }

    static func run(_ model: Model) throws -> [Float] {
        try QuantizationModelTests.target.session(.bytes(try model.serialized(), name: "int8")).run(try sweep())["y"]!.elements(as: Float.self)
    }

    @Test func hardSwishRunsOnInt8() throws {
        let (model, result) = try Self.quantize(try Self.model([Node(opType: "HardSwish", inputs: ["a"], outputs: ["h"])]))
        #expect(result.hardActivations == 1)
        #expect(!model.graph.nodes.contains { $0.opType == "HardSwish" })
        let y = try Self.run(model)
        // Steps: input 12/255, gate 1/255 (times |x| ≤ 6), output 6.4/255; the slope is at most 1.5.
        for (k, value) in y.enumerated() {
            let x = Float(k) / 255 * 12 - 6, exact = x * min(max(x / 6 + 0.5, 0), 1)
            #expect(abs(value - exact) <= 0.08, "x = \(x): \(value) against \(exact)")
        }
    }

    /// The squeeze-excitation form, a ⋅ HardSigmoid(a), for the attributes exporters write and for
    /// negative and zero offsets β/α (the offset's zero point at 255, and an offset of nothing).
    @Test(arguments: [(Float(1) / 6, Float(0.5)), (0.2, 0.5), (0.5, -0.25), (1, 0)])
    func hardSigmoidRunsOnInt8(alpha: Float, beta: Float) throws {
        let nodes = [Node(opType: "HardSigmoid", inputs: ["a"], outputs: ["g"], attributes: [QuantizationModelTests.float("alpha", alpha), QuantizationModelTests.float("beta", beta)]),
                     Node(opType: "Mul", inputs: ["a", "g"], outputs: ["h"])]
        let (model, result) = try Self.quantize(try Self.model(nodes))
        #expect(result.hardActivations == 1)
        #expect(!model.graph.nodes.contains { $0.opType == "HardSigmoid" })
        let y = try Self.run(model)
        let exact = (0..<256).map { k -> Float in let x = Float(k) / 255 * 12 - 6; return x * min(max(alpha * x + beta, 0), 1) }
        let span = exact.max()! - min(exact.min()!, 0)
        for (k, value) in y.enumerated() {
            // One input step through a slope of at most 1 + 6α, plus the gate's and the output's steps.
            #expect(abs(value - exact[k]) <= (12 / 255) * (1 + 6 * alpha) + 6 / 255 + span / 255, "alpha \(alpha) beta \(beta), k \(k): \(value) against \(exact[k])")
        }
    }

    /// Symmetric int8 (TensorRT) has no saturation at zero: the activations stay float there.
    @Test func symmetricActivationsKeepThemInFloat() throws {
        let model = try Self.model([Node(opType: "HardSwish", inputs: ["a"], outputs: ["h"])])
        var options = QuantizationOptions()
        options.symmetric = true
        options.everyLayer = true
        options.floatOutputLayers = 0
        let ranges = ["x": TensorRange(min: -6, max: 6), "a": TensorRange(min: -6, max: 6), "h": TensorRange(min: -0.4, max: 6), "y": TensorRange(min: -0.4, max: 6)]
        let plan = QuantizationPlan(graph: model.graph, ranges: ranges, options: options)
        #expect(plan.int8Ops.isEmpty)
    }
}
