import Testing
import CUDA
import ONNX
import Tensors
import TestSupport
import Inference
import ONNXRuntime
@testable import CUDAEngine

/// A model the engine can run none of is refused by name, not run on ONNX Runtime behind copies.
@Suite struct AllUnsupportedModelTests {
    @Test func aModelWithNoKernelInTheEngineIsRefused() throws {
        let nodes = [Node(opType: "ReduceL2", name: "norm", inputs: ["x"], outputs: ["a"], attributes: [.int("keepdims", 1)]),
                     Node(opType: "Hardmax", name: "pick", inputs: ["a"], outputs: ["y"])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 8])], outputs: [ModelBuilder.tensor("y", .float32, [1, 1, 1])])
        let fallback = HostFallback(ExecutionTarget(backend: ORTBackend(), device: .cpu))
        #expect { try GraphLowering.lower(model, inputShapes: [:], fallback: fallback) } throws: { error in
            guard let e = error as? EngineError, case .unsupported(let node, let ops, let why) = e else { return false }
            return node == "the model" && ops == "Hardmax, ReduceL2" && why.contains("none of its nodes") && e.description.contains("--device cpu")
        }
    }
}
