import Tensors

/// A node attribute. Subgraph attributes (If/Loop/Scan bodies) are held as `Graph`s so passes can
/// rewrite them; every other field stays in the protobuf message untouched.
public struct Attribute {
    /// The message without its `g`/`graphs` fields (those live in `graph`/`graphs`).
    public var proto: Onnx_AttributeProto
    public var graph: Graph?
    public var graphs: [Graph]

    public init(proto: Onnx_AttributeProto) {
        var stripped = proto
        graph = proto.hasG ? Graph(proto: proto.g) : nil
        graphs = proto.graphs.map { Graph(proto: $0) }
        stripped.clearG()
        stripped.graphs = []
        self.proto = stripped
    }

    public var name: String { proto.name }
    public var type: Onnx_AttributeProto.AttributeType { proto.type }

    /// The message with subgraphs serialised back in.
    public func message() -> Onnx_AttributeProto {
        var p = proto
        if let graph { p.g = graph.message() }
        if !graphs.isEmpty { p.graphs = graphs.map { $0.message() } }
        return p
    }

    // Typed views. Each is nil when the attribute holds another type.
    public var int: Int? { proto.hasI ? Int(proto.i) : nil }
    public var float: Float? { proto.hasF ? proto.f : nil }
    public var string: String? { proto.hasS ? String(decoding: proto.s, as: UTF8.self) : nil }
    public var ints: [Int] { proto.ints.map(Int.init) }
    public var floats: [Float] { proto.floats }
    public var tensor: Onnx_TensorProto? { proto.hasT ? proto.t : nil }

    public static func int(_ name: String, _ value: Int) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .int
        p.i = Int64(value)
        return Attribute(proto: p)
    }

    public static func ints(_ name: String, _ values: [Int]) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .ints
        p.ints = values.map(Int64.init)
        return Attribute(proto: p)
    }

    public static func float(_ name: String, _ value: Float) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .float
        p.f = value
        return Attribute(proto: p)
    }

    public static func tensor(_ name: String, _ value: Onnx_TensorProto) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .tensor
        p.t = value
        return Attribute(proto: p)
    }
}
