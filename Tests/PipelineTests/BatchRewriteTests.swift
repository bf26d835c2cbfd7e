import Foundation
import Inference
import ONNX
import ONNXRuntime
@testable import Pipeline
import Tensors
import TestSupport
import Testing

@Suite struct BatchRewriteTests {
    static var target: ExecutionTarget { ExecutionTarget(backend: ORTBackend()) }

    /// The test material's detector is exported with a fixed batch of 1 and Reshapes to [1, 6, -1].
    @Test func theRealDetectorTakesABatchAfterTheRewrite() throws {
        let path = try TestMaterial.path("models/ddddocr/common_det.onnx")
        let model = try Model.load(contentsOf: path)
        let (bytes, outcome) = try BatchRewrite.rewrite(model, input: "images") { try Self.target.session($0) }
        #expect(outcome == .rewritten(reshapes: 3))
        let session = try Self.target.session(.bytes(try #require(bytes), name: "batched"))
        #expect(session.inputs[0].dimensions.first == .some(nil))
        // A batch of three real-sized blank frames runs and gives three rows.
        let out = try session.run(["images": try Tensor(dtype: .float32, shape: [3, 3, 416, 416])])
        #expect(out["output"]?.shape == [3, 3549, 6])
    }

    @Test func aModelAlreadyBatchedIsLeftAlone() throws {
        let x = ValueInfo(name: "x", elementType: .float32, shape: [.symbol("N"), .fixed(4)])
        let model = ModelBuilder.model(nodes: [Node(opType: "Relu", inputs: ["x"], outputs: ["y"])], inputs: [x],
                                       outputs: [ValueInfo(name: "y", elementType: .float32, shape: [.symbol("N"), .fixed(4)])])
        #expect(try BatchRewrite.rewrite(model, input: "x") { try Self.target.session($0) }.1 == .alreadyBatched)
    }

    /// A graph that flattens its whole input into a fixed shape cannot batch: the check runs it and says so.
    @Test func saysWhyWhenTheGraphCannotBatch() throws {
        let shape = try Initializer(name: "shape", tensor: Tensor(shape: [1], elements: [Int64(4)]))
        let model = ModelBuilder.model(nodes: [Node(opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"])],
                                       inputs: [ModelBuilder.tensor("x", .float32, [1, 4])], outputs: [ModelBuilder.tensor("y", .float32, [4])],
                                       initializers: [shape])
        let (bytes, outcome) = try BatchRewrite.rewrite(model, input: "x") { try Self.target.session($0) }
        #expect(bytes == nil)
        guard case .notBatchable(let why) = outcome else { Issue.record("expected notBatchable, got \(outcome)"); return }
        #expect(why.firstRange(of: "batch of 2") != nil, "\(why)")
    }
}
