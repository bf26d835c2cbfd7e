import ONNX
import Tensors

/// Small hand-made models for tests of rules the real material cannot isolate.
public enum ModelBuilder {
    public static func model(opset: Int = 17, nodes: [Node], inputs: [ValueInfo], outputs: [ValueInfo], initializers: [Initializer] = []) -> Model {
        var proto = Onnx_ModelProto()
        proto.irVersion = opset >= 21 ? 10 : 8
        var o = Onnx_OperatorSetIdProto()
        o.version = Int64(opset)
        proto.opsetImport = [o]
        let model = Model(proto: proto)
        model.graph = Graph(name: "test", nodes: nodes, inputs: inputs, outputs: outputs, initializers: initializers)
        return model
    }

    public static func tensor(_ name: String, _ type: DType = .float32, _ dims: [Int] = [1, 3, 8, 8]) -> ValueInfo {
        ValueInfo(name: name, elementType: type, shape: dims.map { .fixed($0) })
    }
}
