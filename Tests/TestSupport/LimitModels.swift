import Foundation
import ONNX
import Tensors

/// The small models behind `ORTKernelLimits`' rules, each built directly in the type under test
/// (the naive float16/bfloat16 model: every float tensor in that type, no Casts), so what ONNX
/// Runtime is asked to run does not depend on our converter. Each builder takes the element type,
/// so the same graph is also built in float32, which must run.
public enum LimitModels {
    public static func attribute(_ name: String, ints: [Int]) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .ints
        p.ints = ints.map(Int64.init)
        return Attribute(proto: p)
    }

    public static func attribute(_ name: String, string: String) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .string
        p.s = Data(string.utf8)
        return Attribute(proto: p)
    }

    public static func attribute(_ name: String, floats: [Float]) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .floats
        p.floats = floats
        return Attribute(proto: p)
    }

    public static func floats(_ name: String, _ values: [Float], _ dims: [Int], _ type: DType = .float32) throws -> Initializer {
        let t = try Tensor(shape: try Shape(dims), elements: values)
        return Initializer(name: name, tensor: type == .float32 ? t : try t.converted(to: type))
    }

    public static func int64(_ name: String, _ values: [Int64], _ dims: [Int]) throws -> Initializer {
        Initializer(name: name, tensor: try Tensor(shape: try Shape(dims), elements: values))
    }

    // MARK: Resize between NHWC Transposes

    /// How the Resize between the Transposes gets its output size.
    public enum ResizeInput: String, Sendable {
        /// `scales` as an initializer: ORT validates them when it builds the kernel (load).
        case constantScales
        /// `sizes` as an initializer: ORT derives the scales per run (run).
        case constantSizes
        /// `scales` as a graph input: known only at run time (run).
        case scalesInput
        /// `sizes` computed from the tensor's shape (Shape → Gather → Concat), batch symbolic, an
        /// Identity between the Transpose and the Resize: only a run shows the refusal.
        case computedSizes
    }

    /// NCHW input → Transpose(0,2,3,1) → cubic Resize of H and W by `scale` → Transpose(0,3,1,2):
    /// how a model resizes in NHWC. ORT's float32 optimizer folds the Transposes into an NCHW
    /// Resize; float16 Casts stop that. `names: false` leaves every node unnamed (`Name:''`).
    public static func transposedResize(_ type: DType, input: ResizeInput, mode: String = "cubic", scale: Float = 0.5,
                                 names: Bool = true, opset: Int = 19) throws -> Model {
        let out = Int((8 * scale).rounded(.down))
        var initializers: [Initializer] = []
        var inputs = [ModelBuilder.tensor("x", type, [1, 3, 8, 8])]
        let resizeInputs: [String]
        switch input {
        case .constantScales:
            initializers.append(try floats("scales", [1, scale, scale, 1], [4]))
            resizeInputs = ["nhwc", "", "scales"]
        case .constantSizes:
            initializers.append(try int64("sizes", [1, Int64(out), Int64(out), 3], [4]))
            resizeInputs = ["nhwc", "", "", "sizes"]
        case .scalesInput:
            inputs.append(ModelBuilder.tensor("scales", .float32, [4]))
            resizeInputs = ["nhwc", "", "scales"]
        case .computedSizes:
            // A ViT's position-embedding interpolation: the batch read from the tensor's shape at
            // run time (Shape → Gather → Concat), the input's batch symbolic.
            inputs = [ValueInfo(name: "x", elementType: type, shape: [.symbol("batch"), .fixed(3), .fixed(8), .fixed(8)])]
            initializers.append(try int64("first", [0], [1]))
            initializers.append(try int64("rest", [Int64(out), Int64(out), 3], [3]))
            resizeInputs = ["copied", "", "", "sizes"]
        }
        var shapeNodes: [Node] = []
        if input == .computedSizes {
            shapeNodes = [
                // Not straight after the Transpose: the pattern the rule table knows is not this one.
                Node(opType: "Identity", name: names ? "copy" : "", inputs: ["nhwc"], outputs: ["copied"]),
                Node(opType: "Shape", name: names ? "shape" : "", inputs: ["nhwc"], outputs: ["nhwc_shape"]),
                Node(opType: "Gather", name: names ? "batch" : "", inputs: ["nhwc_shape", "first"], outputs: ["batch"], attributes: [.int("axis", 0)]),
                Node(opType: "Concat", name: names ? "sizes" : "", inputs: ["batch", "rest"], outputs: ["sizes"], attributes: [.int("axis", 0)]),
            ]
        }
        let nodes = [
            Node(opType: "Transpose", name: names ? "to_nhwc" : "", inputs: ["x"], outputs: ["nhwc"], attributes: [attribute("perm", ints: [0, 2, 3, 1])]),
        ] + shapeNodes + [
            Node(opType: "Resize", name: names ? "resize" : "", inputs: resizeInputs, outputs: ["resized"], attributes: [attribute("mode", string: mode)]),
            Node(opType: "Transpose", name: names ? "to_nchw" : "", inputs: ["resized"], outputs: ["y"], attributes: [attribute("perm", ints: [0, 3, 1, 2])]),
        ]
        let y = input == .computedSizes ? ValueInfo(name: "y", elementType: type, shape: [.symbol("batch"), .fixed(3), .fixed(out), .fixed(out)])
            : ModelBuilder.tensor("y", type, [1, 3, out, out])
        return ModelBuilder.model(opset: opset, nodes: nodes, inputs: inputs, outputs: [y],
                                  initializers: initializers)
    }

    /// A cubic Resize of an NCHW tensor by [1, 1, s, s]: the layout ORT's cubic kernel takes.
    public static func nchwResize(_ type: DType, scale: Float = 0.5) throws -> Model {
        let out = Int((8 * scale).rounded(.down))
        let node = Node(opType: "Resize", name: "resize", inputs: ["x", "", "scales"], outputs: ["y"], attributes: [attribute("mode", string: "cubic")])
        return ModelBuilder.model(opset: 19, nodes: [node], inputs: [ModelBuilder.tensor("x", type, [1, 3, 8, 8])],
                                  outputs: [ModelBuilder.tensor("y", type, [1, 3, out, out])], initializers: [try floats("scales", [1, 1, scale, scale], [4])])
    }

    // MARK: Scatter reductions

    /// data[3, 3] (input) with two rows of updates scattered along axis 0 under `reduction`.
    public static func scatterElements(_ type: DType, reduction: String, opset: Int) throws -> Model {
        let node = Node(opType: "ScatterElements", name: "scatter", inputs: ["data", "indices", "updates"], outputs: ["y"],
                        attributes: [.int("axis", 0), attribute("reduction", string: reduction)])
        return ModelBuilder.model(opset: opset, nodes: [node], inputs: [ModelBuilder.tensor("data", type, [3, 3])],
                                  outputs: [ModelBuilder.tensor("y", type, [3, 3])],
                                  initializers: [try int64("indices", [1, 0, 2, 0, 2, 1], [2, 3]),
                                                 try floats("updates", [1, 2, 3, 4, 5, 6], [2, 3], type)])
    }

    /// data[4, 3] (input) with rows 1 and 3 updated under `reduction`.
    public static func scatterND(_ type: DType, reduction: String, opset: Int) throws -> Model {
        let node = Node(opType: "ScatterND", name: "scatter", inputs: ["data", "indices", "updates"], outputs: ["y"],
                        attributes: [attribute("reduction", string: reduction)])
        return ModelBuilder.model(opset: opset, nodes: [node], inputs: [ModelBuilder.tensor("data", type, [4, 3])],
                                  outputs: [ModelBuilder.tensor("y", type, [4, 3])],
                                  initializers: [try int64("indices", [1, 3], [2, 1]), try floats("updates", [1, 2, 3, 4, 5, 6], [2, 3], type)])
    }

    // MARK: Type attributes and function bodies

    /// EyeLike(22) of an int64 input with `dtype` = `type` (the naive conversion rewrites dtype).
    public static func eyeLikeFromInt64(_ type: DType) -> Model {
        let node = Node(opType: "EyeLike", name: "eye", inputs: ["x"], outputs: ["y"], attributes: [.int("dtype", Int(type.rawValue))])
        return ModelBuilder.model(opset: 22, nodes: [node], inputs: [ModelBuilder.tensor("x", .int64, [3, 3])],
                                  outputs: [ModelBuilder.tensor("y", type, [3, 3])])
    }

    /// EyeLike(22) of a `type` input without dtype: the output follows the input.
    public static func eyeLikeSameType(_ type: DType) -> Model {
        let node = Node(opType: "EyeLike", name: "eye", inputs: ["x"], outputs: ["y"])
        return ModelBuilder.model(opset: 22, nodes: [node], inputs: [ModelBuilder.tensor("x", type, [3, 3])],
                                  outputs: [ModelBuilder.tensor("y", type, [3, 3])])
    }

    /// RandomNormal(1) (or RandomUniform) with dtype = `type`, added to an input so the model has one.
    public static func randomNormal(_ type: DType, opset: Int = 21, op: String = "RandomNormal", name: String = "rn") -> Model {
        let nodes = [
            Node(opType: op, name: name, inputs: [], outputs: ["noise"],
                 attributes: [.int("dtype", Int(type.rawValue)), attribute("shape", ints: [2, 3])]),
            Node(opType: "Add", name: "add", inputs: ["x", "noise"], outputs: ["y"]),
        ]
        return ModelBuilder.model(opset: opset, nodes: nodes, inputs: [ModelBuilder.tensor("x", type, [2, 3])],
                                  outputs: [ModelBuilder.tensor("y", type, [2, 3])])
    }

    /// MeanVarianceNormalization(13): ORT inlines its function body, which holds float32 constants.
    public static func meanVarianceNormalization(_ type: DType) -> Model {
        let node = Node(opType: "MeanVarianceNormalization", name: "mvn", inputs: ["x"], outputs: ["y"])
        return ModelBuilder.model(opset: 13, nodes: [node], inputs: [ModelBuilder.tensor("x", type, [1, 3, 4, 4])],
                                  outputs: [ModelBuilder.tensor("y", type, [1, 3, 4, 4])])
    }

    // MARK: One op, for the bfloat16 kernel list

    /// One node of `op` on a [2, 3, 4, 4] input at opset 22 (where the compute ops' schemas take
    /// bfloat16), with whatever constant inputs and attributes it needs.
    public static func single(_ op: String, _ type: DType) throws -> Model {
        let x = ModelBuilder.tensor("x", type, [2, 3, 4, 4])
        func make(_ inputs: [String], _ outDims: [Int], attributes: [Attribute] = [], initializers: [Initializer] = [], outType: DType? = nil) -> Model {
            let node = Node(opType: op, name: "node", inputs: ["x"] + inputs, outputs: ["y"], attributes: attributes)
            return ModelBuilder.model(opset: 22, nodes: [node], inputs: [x], outputs: [ModelBuilder.tensor("y", outType ?? type, outDims)],
                                      initializers: initializers)
        }
        switch op {
        case "Identity", "Relu", "Sigmoid", "Abs", "Neg", "Exp": return make([], [2, 3, 4, 4])
        case "Add", "Mul": return make(["b"], [2, 3, 4, 4], initializers: [try floats("b", [0.5], [1], type)])
        case "MatMul": return make(["w"], [2, 3, 4, 2], initializers: [try floats("w", (0..<8).map(Float.init), [4, 2], type)])
        case "Conv": return make(["w"], [2, 2, 2, 2], initializers: [try floats("w", (0..<54).map { Float($0) / 54 }, [2, 3, 3, 3], type)])
        case "Resize":
            return make(["", "scales"], [2, 3, 8, 8], attributes: [attribute("mode", string: "linear")],
                        initializers: [try floats("scales", [1, 1, 2, 2], [4])])
        case "Transpose": return make([], [4, 4, 3, 2], attributes: [attribute("perm", ints: [3, 2, 1, 0])])
        case "Flatten": return make([], [2, 48])
        case "Reshape": return make(["shape"], [6, 16], initializers: [try int64("shape", [6, 16], [2])])
        case "Unsqueeze": return make(["axes"], [2, 1, 3, 4, 4], initializers: [try int64("axes", [1], [1])])
        case "Squeeze": return make([], [2, 3, 4, 4])
        case "Concat": return make(["x"], [4, 3, 4, 4], attributes: [.int("axis", 0)])
        case "Slice":
            return make(["starts", "ends", "axes"], [2, 3, 2, 4],
                        initializers: [try int64("starts", [1], [1]), try int64("ends", [3], [1]), try int64("axes", [2], [1])])
        case "Gather": return make(["indices"], [2, 2, 4, 4], attributes: [.int("axis", 1)], initializers: [try int64("indices", [2, 0], [2])])
        case "Split":
            let node = Node(opType: op, name: "node", inputs: ["x"], outputs: ["y", "z"], attributes: [.int("axis", 0), .int("num_outputs", 2)])
            return ModelBuilder.model(opset: 22, nodes: [node], inputs: [x],
                                      outputs: [ModelBuilder.tensor("y", type, [1, 3, 4, 4]), ModelBuilder.tensor("z", type, [1, 3, 4, 4])])
        case "Cast": return make([], [2, 3, 4, 4], attributes: [.int("to", Int(DType.float32.rawValue))], outType: .float32)
        case "Shape": return make([], [4], outType: .int64)
        default: throw LimitModelError(op: op)
        }
    }

    public struct LimitModelError: Error, CustomStringConvertible {
        public var op: String
        public var description: String { "no single-op model for \(op): add one to LimitModels.single" }
    }
}
