import Foundation
import TestSupport
import Testing
import Tensors
@testable import ONNX

/// Inferred element types must equal every type a model declares, over all node tests and the
/// real models; the real models must have no float value left untyped.
@Suite struct TypeInferenceTests {
    struct Tally { var matched = 0; var unknown = 0; var mismatches: [String] = [] }

    private func check(_ model: Model, label: String, into tally: inout Tally) {
        let inference = TypeInference(model)
        for graph in model.allGraphs {
            let inferred = inference.types(in: graph)
            let produced = Set(graph.nodes.flatMap(\.outputs))
            for declaration in graph.outputs + graph.valueInfo where produced.contains(declaration.name) {
                guard let declared = declaration.elementType else { continue }
                switch inferred[declaration.name] {
                case nil: tally.unknown += 1
                case declared?: tally.matched += 1
                case let other?: tally.mismatches.append("\(label): \(declaration.name) declared \(declared), inferred \(other)")
                }
            }
        }
    }

    @Test func inferredTypesMatchDeclaredTypesOnAllNodeTests() throws {
        var tally = Tally()
        for test in try TestMaterial.nodeTestDirectories() {
            let model = try Model.load(contentsOf: test.appendingPathComponent("model.onnx").path)
            check(model, label: test.lastPathComponent, into: &tally)
        }
        print("type inference on node tests: \(tally.matched) declared types matched, \(tally.unknown) not inferred, \(tally.mismatches.count) mismatched")
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches.prefix(20).joined(separator: "\n"))")
        #expect(tally.matched >= 2000)
        // Unknown only where a type needs data we do not model (ml-domain maps, training ops, …).
        #expect(tally.unknown <= 60, "\(tally.unknown) declared outputs not inferred")
    }

    @Test(arguments: TestMaterial.realModels)
    func realModelsAreFullyTyped(_ relative: String) throws {
        let model = try Model.load(contentsOf: try TestMaterial.path(relative))
        var tally = Tally()
        check(model, label: relative, into: &tally)
        #expect(tally.mismatches.isEmpty, "\(tally.mismatches)")
        let inference = TypeInference(model)
        for graph in model.allGraphs {
            #expect(inference.untypedValues(in: graph).isEmpty, "untyped values in \(relative): \(inference.untypedValues(in: graph).prefix(10))")
        }
    }

    @Test func fillMissingTypesDeclaresEveryIntermediateValue() throws {
        let model = try Model.load(contentsOf: try TestMaterial.path("models/rapidocr/ch_PP-OCRv4_det_infer.onnx"))
        let before = model.graph.valueInfo.count
        let added = model.fillMissingTypes()
        #expect(added > 0)
        #expect(model.graph.valueInfo.count == before + added)
        let declared = Set(model.graph.valueInfo.map(\.name) + model.graph.outputs.map(\.name))
        for node in model.graph.nodes { for o in node.outputs { #expect(declared.contains(o)) } }
        #expect(Validator.validate(model).isEmpty)
    }

    @Test func fillingMissingTypesKeepsEveryNodeTestValid() throws {
        var filled = 0, failures: [String] = []
        for test in try TestMaterial.nodeTestDirectories() {
            let model = try Model.load(contentsOf: test.appendingPathComponent("model.onnx").path)
            filled += model.fillMissingTypes()
            let issues = Validator.validate(model)
            if !issues.isEmpty { failures.append("\(test.lastPathComponent): \(issues.prefix(2))") }
        }
        #expect(filled > 1000)
        #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
    }

    @Test func specialRulesFollowAttributesAndSubgraphs() throws {
        let model = ModelBuilder.model(opset: 21, nodes: [
            Node(opType: "Cast", inputs: ["x"], outputs: ["h"], attributes: [.int("to", Int(DType.float16.rawValue))]),
            Node(opType: "Shape", inputs: ["h"], outputs: ["s"]),
            Node(opType: "ConstantOfShape", inputs: ["s"], outputs: ["c"]),
            Node(opType: "QuantizeLinear", inputs: ["x", "scale"], outputs: ["q"]),
            Node(opType: "Greater", inputs: ["x", "x"], outputs: ["b"]),
        ], inputs: [ValueInfo(name: "x", elementType: .float32, shape: [.fixed(2)])], outputs: [],
        initializers: [Initializer(name: "scale", tensor: try Tensor(shape: [], elements: [Float(0.1)]))])
        let graph = model.graph
        let types = TypeInference(model).types(in: graph)
        #expect(types["h"] == .float16)
        #expect(types["s"] == .int64)
        #expect(types["c"] == .float32)
        #expect(types["q"] == .uint8)
        #expect(types["b"] == .bool)
    }
}
