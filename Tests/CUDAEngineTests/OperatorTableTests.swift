import Testing
import ONNX
import Tensors
import TestSupport
import Inference
@testable import CUDAEngine

/// The op table is the engine's one list of ops: the backend's answers (`operators`, `mayRefuse`,
/// `supports`) and the lowering's dispatch all read it, and where a rule is stated on both sides
/// (the check before planning, the guard while planning) they agree.
@Suite struct OperatorTableTests {
    static let backend = CUDAEngineBackend()

    /// What a partitioner tells the backend of `node` in `model`: every constant input and the
    /// declared shapes of the graph's inputs.
    static func context(_ model: Model, _ node: Node) throws -> NodeContext {
        let weights = Dictionary(model.graph.initializers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let declared = Dictionary(model.graph.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var constants: [Int: Tensor] = [:], shapes: [Int: [Int?]] = [:]
        for (slot, name) in node.inputs.enumerated() where !name.isEmpty {
            if let w = weights[name] {
                let tensor = try w.tensor()
                constants[slot] = tensor
                shapes[slot] = tensor.shape.dimensions
            } else if let dims = declared[name]?.shape {
                shapes[slot] = dims.map { if case .fixed(let n) = $0 { n } else { nil } }
            }
        }
        return NodeContext(opset: 17, inputTypes: node.inputs.map { _ in .float16 }, outputTypes: node.outputs.map { _ in .float16 },
                           constantInputs: constants, inputShapes: shapes)
    }

    /// The lowering's refusal of the model's nodes (op type and reason); nil when it plans them all.
    static func refusal(_ model: Model) throws -> (op: String, reason: String)? {
        do {
            _ = try GraphLowering.lower(model, inputShapes: [:])
            return nil
        } catch {
            guard case .unsupported(_, let op, let reason) = error else { throw error }
            return (op, reason)
        }
    }

    /// One node on `x`, its weights as initializers.
    static func single(_ node: Node, x: [Int], weights: [Initializer] = []) -> Model {
        ModelBuilder.model(nodes: [node], inputs: [ModelBuilder.tensor("x", .float32, x)], outputs: [ModelBuilder.tensor(node.outputs[0], .float32, x)],
                           initializers: weights)
    }

    // MARK: one list

    @Test func everyOperatorHasItsEntry() {
        #expect(CUDAEngineBackend.operators == Set(OperatorTable.entries.keys))
        for (op, entry) in OperatorTable.entries {
            #expect(entry.opTypes.contains(op))
            // An op without a device lowering is there because the host folds it.
            #expect(entry.lower != nil || HostFolding.foldable.contains(op), "\(op) has neither a lowering nor a fold")
        }
        #expect(GraphLowering.layerOps == ["Conv", "Gemm", "MatMul"])
    }

    @Test func mayRefuseIsTrueExactlyForOpsWithACheck() throws {
        let x = [1, 4, 6, 6]
        for (op, entry) in OperatorTable.entries {
            let node = Node(opType: op, name: "n", inputs: ["x"], outputs: ["y"])
            #expect(Self.backend.mayRefuse(node, computing: .float16) == (entry.check != nil), "\(op)")
            if entry.check == nil {
                #expect(Self.backend.supports(node, try Self.context(Self.single(node, x: x), node)) == .supported, "\(op)")
            }
        }
    }

    @Test func anOpOutsideTheTableIsRefusedOnBothSides() throws {
        let node = Node(opType: "ReduceL2", name: "n", inputs: ["x"], outputs: ["y"])
        let model = Self.single(node, x: [1, 4, 6, 6])
        #expect(Self.backend.mayRefuse(node, computing: .float16))
        #expect(Self.backend.supports(node, try Self.context(model, node)) == .unsupported("no kernel for ReduceL2"))
        let refusal = try #require(try Self.refusal(model))
        #expect(refusal.op == "ReduceL2" && refusal.reason == "no kernel for this op")
    }

    @Test func aNodeOfAnotherDomainIsRefusedOnBothSides() throws {
        let node = Node(opType: "Relu", domain: "com.example", name: "n", inputs: ["x"], outputs: ["y"])
        let model = Self.single(node, x: [1, 4, 6, 6])
        #expect(Self.backend.mayRefuse(node, computing: .float16))
        #expect(Self.backend.supports(node, try Self.context(model, node)) == .unsupported("domain com.example"))
        let refusal = try #require(try Self.refusal(model))
        #expect(refusal.reason == "domain com.example has no kernels in the engine")
    }

    /// Gather is in the table for the shape arithmetic the host folds; over computed data it has
    /// no kernel.
    @Test func aFoldOnlyOpOverComputedDataIsRefused() throws {
        let node = Node(opType: "Gather", name: "n", inputs: ["x", "i"], outputs: ["y"])
        let indices = Initializer(name: "i", tensor: try Tensor(shape: [2], elements: [Int64(0), 2]))
        let refusal = try #require(try Self.refusal(Self.single(node, x: [4, 4], weights: [indices])))
        #expect(refusal.op == "Gather" && refusal.reason == "no kernel for this op")
    }

    // MARK: the rules both sides state

    /// Asks both sides about `node`: refused by the check exactly when the lowering refuses it,
    /// each with its own words for the one rule.
    static func expectAgreement(_ node: Node, in model: Model, refused: Bool, check: String, lowering: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let answer = backend.supports(node, try context(model, node))
        let planned = try refusal(model)
        if refused {
            #expect(answer == .unsupported(check), sourceLocation: sourceLocation)
            #expect(planned?.op == node.opType && planned?.reason == lowering, "\(String(describing: planned))", sourceLocation: sourceLocation)
        } else {
            #expect(answer == .supported, sourceLocation: sourceLocation)
            #expect(planned == nil, "\(String(describing: planned))", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [1, 2, 3])
    func convolutionsAreTwoDimensionalOnBothSides(spatialAxes: Int) throws {
        let x = [1, 4] + [Int](repeating: 6, count: spatialAxes)
        let node = Node(opType: "Conv", name: "n", inputs: ["x", "w"], outputs: ["y"])
        let w = try GraphLoweringTests.weight("w", [4, 4] + [Int](repeating: 3, count: spatialAxes), seed: 1)
        try Self.expectAgreement(node, in: Self.single(node, x: x, weights: [w]), refused: spatialAxes != 2,
                                 check: "only 2-D convolutions", lowering: "only 2-D convolutions are supported")
    }

    @Test(arguments: [0, 1])
    func gemmTakesAUntransposedOnBothSides(transA: Int) throws {
        let node = Node(opType: "Gemm", name: "n", inputs: ["x", "b"], outputs: ["y"], attributes: [.int("transA", transA)])
        let model = ModelBuilder.model(nodes: [node], inputs: [ModelBuilder.tensor("x", .float32, [4, 4])], outputs: [ModelBuilder.tensor("y", .float32, [4, 5])],
                                       initializers: [try GraphLoweringTests.weight("b", [4, 5], seed: 2)])
        try Self.expectAgreement(node, in: model, refused: transA != 0, check: "transposed A", lowering: "transposed or non-matrix A")
    }

    @Test(arguments: ["Resize", "Upsample"], ["nearest", "linear", "cubic"])
    func resizingIsNearestOnBothSides(op: String, mode: String) throws {
        let inputs = op == "Resize" ? ["x", "", "s"] : ["x", "s"]
        let node = Node(opType: op, name: "n", inputs: inputs, outputs: ["y"], attributes: [LimitModels.attribute("mode", string: mode)])
        let scales = try LimitModels.floats("s", [1, 1, 2, 2], [4])
        let model = ModelBuilder.model(nodes: [node], inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 6, 6])],
                                       outputs: [ModelBuilder.tensor("y", .float32, [1, 4, 12, 12])], initializers: [scales])
        try Self.expectAgreement(node, in: model, refused: mode != "nearest", check: "only nearest resizing", lowering: "mode \(mode) (only nearest is supported)")
    }

    @Test(arguments: ["MaxPool", "AveragePool"], [[3], [3, 3], [3, 3, 3]])
    func poolingIsTwoDimensionalOnBothSides(op: String, kernel: [Int]) throws {
        let node = Node(opType: op, name: "n", inputs: ["x"], outputs: ["y"], attributes: [.ints("kernel_shape", kernel)])
        try Self.expectAgreement(node, in: Self.single(node, x: [1, 4, 6, 6]), refused: kernel.count != 2,
                                 check: "only 2-D pooling", lowering: "only 2-D pooling is supported")
    }

    @Test(arguments: -3..<3)
    func layerNormalizationIsOverTheLastAxisOnBothSides(axis: Int) throws {
        let node = Node(opType: "LayerNormalization", name: "n", inputs: ["x", "g"], outputs: ["y"], attributes: [.int("axis", axis)])
        let model = Self.single(node, x: [2, 4, 8], weights: [try GraphLoweringTests.weight("g", [8], seed: 3)])
        try Self.expectAgreement(node, in: model, refused: axis != -1 && axis != 2, check: "normalizing from an inner axis",
                                 lowering: "normalizing from axis \(axis < 0 ? axis + 3 : axis) of [2, 4, 8] (only the last axis is supported)")
    }
}
