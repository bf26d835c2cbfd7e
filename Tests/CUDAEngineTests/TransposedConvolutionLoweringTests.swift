import Testing
import CUDA
import ONNX
import Tensors
import TestSupport
import Inference
import ONNXRuntime
@testable import CUDAEngine

/// ConvTranspose as cuDNN's backward-data pass: the forward geometry it inverts, KRSC filters.
@Suite struct TransposedConvolutionLoweringTests {
    @Test func upsamplingByTwoIsTheDataGradientOfAStrideTwoConvolution() throws {
        // PP-OCRv4's neck: 2×2 kernel, stride 2, 4 → 2 channels, with a bias.
        let w = try GraphLoweringTests.weight("w", [4, 2, 2, 2], seed: 3), b = try GraphLoweringTests.weight("b", [2], seed: 5)
        let nodes = [Node(opType: "ConvTranspose", name: "up", inputs: ["x", "w", "b"], outputs: ["y"], attributes: [.ints("strides", [2, 2]), .ints("kernel_shape", [2, 2])])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 5, 7])], outputs: [ModelBuilder.tensor("y", .float32, [1, 2, 10, 14])],
                                       initializers: [w, b])
        let plan = try GraphLowering.lower(model, inputShapes: [:])
        let steps = plan.steps.compactMap { if case .transposedConvolution(let c) = $0 { c } else { nil } }
        let c = try #require(steps.first)
        #expect(c.geometry == ConvolutionGeometry(batch: 1, channels: 2, height: 10, width: 14, filters: 4, kernel: (2, 2), strides: (2, 2)))
        #expect(c.geometry.outputHeight == 5 && c.geometry.outputWidth == 7)
        #expect(plan.tensors[c.output].shape == [1, 2, 10, 14] && plan.tensors[c.output].layout == .nhwc)
        // ONNX [C_in][C_out][kh][kw] → KRSC: filter[k][y][x][c] = W[k][c][y][x].
        let bits = plan.weights[c.filter].bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let source = try w.tensor().floatValues()
        for k in 0..<4 { for ch in 0..<2 { for y in 0..<2 { for x in 0..<2 {
            let want = source[((k * 2 + ch) * 2 + y) * 2 + x]
            #expect(abs(GraphLoweringTests.half(bits[((k * 2 + y) * 2 + x) * 2 + ch]) - want) <= abs(want) / 1024)
        } } } }
        #expect(plan.placements.first { $0.node == "up" }?.placement == "step \(plan.steps.firstIndex { if case .transposedConvolution = $0 { true } else { false } }!)")
    }

    @Test func outputPaddingFromTheStrideIsRefusedByName() throws {
        let nodes = [Node(opType: "ConvTranspose", name: "up", inputs: ["x", "w"], outputs: ["y"], attributes: [.ints("strides", [2, 2]), .ints("output_padding", [2, 2])])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 5, 5])], outputs: [ModelBuilder.tensor("y", .float32, [1, 2, 13, 13])],
                                       initializers: [try GraphLoweringTests.weight("w", [4, 2, 2, 2], seed: 3)])
        #expect { try GraphLowering.lower(model, inputShapes: [:]) } throws: { error in
            guard let e = error as? EngineError, case .unsupported(_, let op, let why) = e else { return false }
            return op == "ConvTranspose" && why.contains("output padding")
        }
    }
}
