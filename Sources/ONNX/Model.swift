/// An ONNX model: the main graph, local functions, opset imports and metadata.
///
/// Everything not held as IR (ir_version, producer, metadata, training info, unknown fields)
/// stays in `proto`, so loading and saving changes nothing we did not change.
public final class Model {
    /// The message without its graph and functions.
    public var proto: Onnx_ModelProto
    public var graph: Graph
    public var functions: [Function]

    public init(proto: Onnx_ModelProto) {
        graph = Graph(proto: proto.graph)
        functions = proto.functions.map(Function.init)
        var stripped = proto
        stripped.clearGraph()
        stripped.functions = []
        self.proto = stripped
        hadGraph = proto.hasGraph
    }

    /// Whether the file had a graph field (kept so that a graph-less message round-trips as such).
    private let hadGraph: Bool

    public var irVersion: Int { Int(proto.irVersion) }
    public var producer: String {
        [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
    }
    /// Opset imports as (domain, version); the default domain is written "ai.onnx".
    public var opsets: [(domain: String, version: Int)] {
        proto.opsetImport.map { ($0.domain.isEmpty ? "ai.onnx" : $0.domain, Int($0.version)) }
    }
    /// The imported version of `domain` ("ai.onnx" or "" for the default domain).
    public func opsetVersion(_ domain: String) -> Int? {
        let d = domain == "ai.onnx" ? "" : domain
        return proto.opsetImport.first { $0.domain == d || ($0.domain == "ai.onnx" && d.isEmpty) }.map { Int($0.version) }
    }
    public var metadata: [(key: String, value: String)] { proto.metadataProps.map { ($0.key, $0.value) } }

    /// The whole message, ready to serialise.
    public func message() -> Onnx_ModelProto {
        var p = proto
        if hadGraph || !graph.nodes.isEmpty || !graph.inputs.isEmpty || !graph.outputs.isEmpty { p.graph = graph.message() }
        p.functions = functions.map { $0.message() }
        return p
    }

    /// Every graph of the model: the main graph, then nested subgraphs (not function bodies).
    public var allGraphs: [Graph] { [graph] + graph.nestedGraphs }
}

/// A model-local function (FunctionProto): a named body of nodes callable as an operator.
public final class Function {
    public var proto: Onnx_FunctionProto
    public var nodes: [Node]

    public init(proto: Onnx_FunctionProto) {
        nodes = proto.node.map(Node.init)
        var stripped = proto
        stripped.node = []
        self.proto = stripped
    }

    public var name: String { proto.name }
    public var domain: String { proto.domain }

    public func message() -> Onnx_FunctionProto {
        var p = proto
        p.node = nodes.map { $0.message() }
        return p
    }
}
