import Foundation
import TestSupport
import Testing
import Tensors
@testable import ONNX

/// The validator names the node and value of each structural error, and passes valid models.
@Suite struct ValidatorTests {
    @Test func passesEveryNodeTestAndRealModel() throws {
        var failures: [String] = []
        for test in try TestMaterial.nodeTestDirectories() {
            let model = try Model.load(contentsOf: test.appendingPathComponent("model.onnx").path)
            let issues = Validator.validate(model)
            if !issues.isEmpty { failures.append("\(test.lastPathComponent): \(issues.map(\.description))") }
        }
        for relative in TestMaterial.realModels {
            let issues = Validator.validate(try Model.load(contentsOf: try TestMaterial.path(relative)))
            if !issues.isEmpty { failures.append("\(relative): \(issues.prefix(3).map(\.description))") }
        }
        #expect(failures.isEmpty, "\(failures.count) valid models rejected:\n\(failures.prefix(15).joined(separator: "\n"))")
    }

    @Test func reportsDanglingInput() {
        let model = ModelBuilder.model(nodes: [Node(opType: "Relu", name: "relu1", inputs: ["ghost"], outputs: ["y"])],
                                       inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y")])
        let issues = Validator.validate(model)
        #expect(issues.contains { $0.kind == .danglingInput && $0.value == "ghost" && $0.node == "'relu1' (Relu)" })
    }

    @Test func reportsCycle() {
        let model = ModelBuilder.model(nodes: [
            Node(opType: "Add", name: "a", inputs: ["x", "b_out"], outputs: ["a_out"]),
            Node(opType: "Relu", name: "b", inputs: ["a_out"], outputs: ["b_out"]),
        ], inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("b_out")])
        #expect(Validator.validate(model).contains { $0.kind == .cycle })
        #expect(throws: ONNXError.self) { try TopologicalSort.sort(model.graph) }
    }

    @Test func reportsSelfLoop() {
        let model = ModelBuilder.model(nodes: [Node(opType: "Add", name: "self", inputs: ["x", "y"], outputs: ["y"])],
                                       inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y")])
        #expect(Validator.validate(model).contains { $0.kind == .cycle })
    }

    @Test func reportsDuplicateProducers() {
        let model = ModelBuilder.model(nodes: [
            Node(opType: "Relu", name: "one", inputs: ["x"], outputs: ["y"]),
            Node(opType: "Sigmoid", name: "two", inputs: ["x"], outputs: ["y"]),
        ], inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y")])
        #expect(Validator.validate(model).contains { $0.kind == .duplicateName && $0.value == "y" && $0.node == "'two' (Sigmoid)" })
    }

    @Test func reportsOutOfOrderNodesAndSortFixesThem() throws {
        let model = ModelBuilder.model(nodes: [
            Node(opType: "Relu", name: "second", inputs: ["h"], outputs: ["y"]),
            Node(opType: "Sigmoid", name: "first", inputs: ["x"], outputs: ["h"]),
        ], inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y")])
        #expect(Validator.validate(model).contains { $0.kind == .notSorted && $0.value == "h" })
        try TopologicalSort.sort(model.graph)
        #expect(model.graph.nodes.map(\.name) == ["first", "second"])
        #expect(Validator.validate(model).isEmpty)
    }

    @Test func reportsConvBoundToFloatAndFloat16() throws {
        let weight = Initializer(name: "w", tensor: try Tensor(dtype: .float16, shape: [4, 3, 3, 3]))
        let model = ModelBuilder.model(nodes: [Node(opType: "Conv", name: "conv", inputs: ["x", "w"], outputs: ["y"])],
                                       inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y")], initializers: [weight])
        let issues = Validator.validate(model)
        #expect(issues.contains { $0.kind == .typeMismatch && $0.node == "'conv' (Conv)" && $0.value == "w" }, "\(issues)")
    }

    @Test func reportsDeclaredTypeThatDisagreesWithProducer() {
        let model = ModelBuilder.model(nodes: [Node(opType: "Shape", name: "shape", inputs: ["x"], outputs: ["s"])],
                                       inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("s", .float32, [4])])
        #expect(Validator.validate(model).contains { $0.kind == .typeMismatch && $0.value == "s" })
    }

    @Test func reportsUndefinedGraphOutput() {
        let model = ModelBuilder.model(nodes: [], inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("nowhere")])
        #expect(Validator.validate(model).contains { $0.kind == .undefinedOutput && $0.value == "nowhere" })
    }

    @Test func subgraphsMayReadOuterValues() throws {
        // The If node tests read outer values from their branches; all are valid.
        for name in ["test_if", "test_loop11", "test_scan9_sum"] {
            let path = try TestMaterial.path("onnx-tests/node/\(name)/model.onnx")
            #expect(Validator.validate(try Model.load(contentsOf: path)).isEmpty, "\(name)")
        }
    }
}
