/// A computation graph: nodes in order, its inputs, outputs, declared value types and constants.
///
/// The structure passes need (the node list, value declarations, initializers) is held as Swift
/// values; every other field stays in `proto` so a load → save round trip is lossless.
public final class Graph {
    /// The message without the fields held below.
    public var proto: Onnx_GraphProto
    public var nodes: [Node]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// Declared types of intermediate values, in file order.
    public var valueInfo: [ValueInfo]
    public var initializers: [Initializer]

    public init(proto: Onnx_GraphProto) {
        nodes = proto.node.map(Node.init)
        inputs = proto.input.map(ValueInfo.init)
        outputs = proto.output.map(ValueInfo.init)
        valueInfo = proto.valueInfo.map(ValueInfo.init)
        initializers = proto.initializer.map(Initializer.init)
        var stripped = proto
        stripped.node = []
        stripped.input = []
        stripped.output = []
        stripped.valueInfo = []
        stripped.initializer = []
        self.proto = stripped
    }

    public convenience init(name: String, nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [], initializers: [Initializer] = []) {
        var p = Onnx_GraphProto()
        p.name = name
        self.init(proto: p)
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
    }

    public var name: String {
        get { proto.name }
        set { proto.name = newValue }
    }

    /// The message with everything serialised back in.
    public func message() -> Onnx_GraphProto {
        var p = proto
        p.node = nodes.map { $0.message() }
        p.input = inputs.map(\.proto)
        p.output = outputs.map(\.proto)
        p.valueInfo = valueInfo.map(\.proto)
        p.initializer = initializers.map(\.proto)
        return p
    }

    /// Every graph nested in this one's nodes (If/Loop/Scan bodies), depth first, not including self.
    public var nestedGraphs: [Graph] {
        var out: [Graph] = []
        for node in nodes where node.hasSubgraphs {
            for sub in node.subgraphs { out.append(sub); out += sub.nestedGraphs }
        }
        return out
    }

    /// Names of the values this graph defines: inputs, initializers and node outputs.
    public var definedValueNames: Set<String> {
        var names = Set(inputs.map(\.name))
        names.formUnion(initializers.map(\.name))
        names.formUnion(proto.sparseInitializer.map(\.values.name))
        for node in nodes { names.formUnion(node.outputs.filter { !$0.isEmpty }) }
        return names
    }

    /// Declared type of a value from inputs, outputs or value_info (first match).
    public func declaredValue(named name: String) -> ValueInfo? {
        inputs.first { $0.name == name } ?? outputs.first { $0.name == name } ?? valueInfo.first { $0.name == name }
    }
}
