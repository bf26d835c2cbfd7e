import Testing
import CUDA
import ONNX
import Tensors
import TestSupport
import Inference
import ONNXRuntime
@testable import CUDAEngine

/// Transformer encoders on the engine, planned without a GPU: attention's products of computed
/// tensors as cuBLASLt batches, LayerNormalization and the NaN guard as kernels, dequantized
/// weights folded at load, and the real MiniLM split between the GPU and ONNX Runtime.
@Suite struct TransformerLoweringTests {
    @Test func attentionProductsAreOneStridedBatch() throws {
        // Q·Kᵀ of 2 sequences × 12 heads: 24 products of 16×32 by 32×16.
        let (qk, out) = try #require(GraphLowering.matrixProductShape([2, 12, 16, 32], [2, 12, 32, 16]))
        #expect(qk == MatrixProductShape(batch: 24, rows: 16, columns: 16, inner: 32, strideA: 512, strideB: 512))
        #expect(out == [2, 12, 16, 16])
        // One matrix shared by every product: the batches become rows of one product.
        let (shared, sharedOut) = try #require(GraphLowering.matrixProductShape([4, 16, 32], [32, 8]))
        #expect(shared == MatrixProductShape(batch: 1, rows: 64, columns: 8, inner: 32, strideA: 0, strideB: 0))
        #expect(sharedOut == [4, 16, 8])
        // A shared left operand keeps the batch with stride 0; broadcasting of leading 1s is whole.
        let (left, _) = try #require(GraphLowering.matrixProductShape([16, 32], [1, 3, 32, 8]))
        #expect(left.batch == 3 && left.strideA == 0 && left.strideB == 256)
        // Partial broadcasting (heads shared, batch not) has no single stride; mismatched K none at all.
        #expect(GraphLowering.matrixProductShape([2, 1, 16, 32], [2, 12, 32, 16]) == nil)
        #expect(GraphLowering.matrixProductShape([2, 16, 32], [2, 31, 16]) == nil)
        #expect(GraphLowering.matrixProductShape([32], [32, 16]) == nil)
    }

    /// softmax(Q·Kᵀ + mask) with the exporter's NaN guard, then ·V, then LayerNorm.
    static func attention() throws -> Model {
        let nodes = [
            Node(opType: "Transpose", name: "kt", inputs: ["k"], outputs: ["kT"], attributes: [.ints("perm", [0, 1, 3, 2])]),
            Node(opType: "MatMul", name: "qk", inputs: ["q", "kT"], outputs: ["s"]),
            Node(opType: "Add", name: "masked", inputs: ["s", "mask"], outputs: ["sm"]),
            Node(opType: "Softmax", name: "p", inputs: ["sm"], outputs: ["pr"], attributes: [.int("axis", -1)]),
            Node(opType: "IsNaN", name: "nan", inputs: ["pr"], outputs: ["isnan"]),
            Node(opType: "Where", name: "guard", inputs: ["isnan", "zero", "pr"], outputs: ["pg"]),
            Node(opType: "MatMul", name: "pv", inputs: ["pg", "v"], outputs: ["o"]),
            Node(opType: "LayerNormalization", name: "ln", inputs: ["o", "gamma", "beta"], outputs: ["y"],
                 attributes: [.int("axis", -1), .float("epsilon", 1e-12)]),
        ]
        let inits = [Initializer(name: "zero", tensor: try Tensor(shape: [], elements: [Float(0)])),
                     try GraphLoweringTests.weight("gamma", [8], seed: 1), try GraphLoweringTests.weight("beta", [8], seed: 2)]
        let shape = [2, 3, 5, 8]
        return ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("q", .float32, shape), ModelBuilder.tensor("k", .float32, shape),
                                                         ModelBuilder.tensor("v", .float32, shape), ModelBuilder.tensor("mask", .float32, [2, 1, 5, 5])],
                                  outputs: [ModelBuilder.tensor("y", .float32, shape)], initializers: inits)
    }

    @Test func attentionRunsOnTheGPUInFiveKernelsAndTwoProducts() throws {
        let plan = try GraphLowering.lower(try Self.attention(), inputShapes: [:])
        let products = plan.steps.compactMap { if case .matrixProduct(let m) = $0 { m } else { nil } }
        #expect(products.map(\.shape) == [MatrixProductShape(batch: 6, rows: 5, columns: 5, inner: 8, strideA: 40, strideB: 40),
                                           MatrixProductShape(batch: 6, rows: 5, columns: 8, inner: 5, strideA: 25, strideB: 40)])
        let generated = plan.steps.compactMap { if case .generated(let g) = $0 { g } else { nil } }
        // IsNaN and Where fused into one kernel: a boolean never leaves a register.
        let guarded = try #require(generated.first { $0.source.contains("0x7f800000u") })
        #expect(plan.stepNodes[plan.steps.firstIndex { if case .generated(let g) = $0 { g.function == guarded.function } else { false } }!] == ["nan", "guard"])
        let norm = try #require(generated.first { $0.kind == "layer norm" })
        #expect(norm.threads == 2 * 3 * 5 * 32 && norm.weights.count == 2)
        #expect(norm.source.contains("__shfl_xor_sync") && norm.source.contains("x + row * 8LL"))
        #expect(plan.placements.allSatisfy { !$0.isHostStep })
        // The products read row-major operands and write row-major results.
        for m in products { for t in [m.a, m.b, m.output] { #expect(plan.tensors[t].isRowMajorOrder) } }
    }

    @Test func aBooleanResultOutsideAChainIsRefused() throws {
        let nodes = [Node(opType: "IsNaN", name: "nan", inputs: ["x"], outputs: ["y"])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [2, 8])], outputs: [ModelBuilder.tensor("y", .bool, [2, 8])])
        #expect { try GraphLowering.lower(model, inputShapes: [:]) } throws: { error in
            guard let e = error as? EngineError, case .unsupported(_, let op, let why) = e else { return false }
            return op == "IsNaN" && why.contains("boolean")
        }
    }

    @Test func layerNormOverAnInnerAxisIsRefusedByName() throws {
        let nodes = [Node(opType: "LayerNormalization", name: "ln", inputs: ["x", "g"], outputs: ["y"], attributes: [.int("axis", 1)])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [2, 4, 8])], outputs: [ModelBuilder.tensor("y", .float32, [2, 4, 8])],
                                       initializers: [try GraphLoweringTests.weight("g", [4, 8], seed: 0)])
        #expect { try GraphLowering.lower(model, inputShapes: [:]) } throws: { error in
            guard let e = error as? EngineError, case .unsupported(_, let op, let why) = e else { return false }
            return op == "LayerNormalization" && why.contains("last axis")
        }
    }

    /// The real sentence transformer (int8 weights dequantized in its graph): every weight folded at
    /// load, the 36 projections as convolutions, the 12 attention products on cuBLASLt, only the
    /// embedding lookups and the mask's integer logic on ONNX Runtime.
    @Test func miniLMRunsOnTheGPUExceptLookupsAndMaskLogic() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/minilm/model.onnx"))
        let fallback = HostFallback(ExecutionTarget(backend: ORTBackend(), device: .cpu))
        let shape = [2, 16]
        let plan = try GraphLowering.lower(model, inputShapes: ["input_ids": shape, "attention_mask": shape, "token_type_ids": shape], fallback: fallback)
        var convolutions = 0, products = 0, norms = 0
        for step in plan.steps {
            switch step {
            case .convolution: convolutions += 1
            case .matrixProduct: products += 1
            case .generated(let g) where g.kind == "layer norm": norms += 1
            default: break
            }
        }
        #expect(convolutions == 36 && products == 12 && norms == 13)
        let onHost = Set(plan.placements.filter(\.isHostStep).map(\.opType))
        #expect(onHost.isSubset(of: ["Gather", "GatherND", "Cast", "And", "Where"]), "\(onHost)")
        #expect(plan.placements.filter(\.isHostStep).count <= 7)
        // No weight is recomputed per run: every device step's output is an activation (batch 2 × 16 tokens).
        for step in plan.steps { for t in step.outputs { #expect(plan.tensors[t].shape.first == 2 || plan.tensors[t].elementCount <= 2 * 16 * 1536, "\(plan.tensors[t].summary)") } }
        #expect(plan.weights.reduce(0) { $0 + $1.byteCount } < 30_000_000)
    }
}
