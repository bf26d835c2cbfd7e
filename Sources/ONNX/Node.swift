/// One operator application. Fields are read and written through the protobuf message, so
/// anything we do not interpret (doc strings, overloads, metadata, unknown fields) survives.
public final class Node {
    /// The message without its attributes (those live in `attributes`).
    public var proto: Onnx_NodeProto
    public var attributes: [Attribute]

    public init(proto: Onnx_NodeProto) {
        var stripped = proto
        attributes = proto.attribute.map(Attribute.init)
        stripped.attribute = []
        self.proto = stripped
    }

    public convenience init(opType: String, domain: String = "", name: String = "", inputs: [String], outputs: [String], attributes: [Attribute] = []) {
        var p = Onnx_NodeProto()
        p.opType = opType
        if !domain.isEmpty { p.domain = domain }
        if !name.isEmpty { p.name = name }
        p.input = inputs
        p.output = outputs
        self.init(proto: p)
        self.attributes = attributes
    }

    public var opType: String {
        get { proto.opType }
        set { proto.opType = newValue }
    }
    /// "" for the default `ai.onnx` domain.
    public var domain: String {
        get { proto.domain }
        set { proto.domain = newValue }
    }
    public var name: String {
        get { proto.name }
        set { proto.name = newValue }
    }
    /// Input value names; "" marks an omitted optional input.
    public var inputs: [String] {
        get { proto.input }
        set { proto.input = newValue }
    }
    public var outputs: [String] {
        get { proto.output }
        set { proto.output = newValue }
    }

    /// The normalised domain: "ai.onnx" for the default one.
    public var canonicalDomain: String { domain.isEmpty ? "ai.onnx" : domain }

    /// How errors and reports name this node: its name if it has one, else op type and first output.
    public var label: String {
        name.isEmpty ? "\(opType) → \(outputs.first ?? "?")" : "'\(name)' (\(opType))"
    }

    public subscript(attribute name: String) -> Attribute? {
        attributes.first { $0.name == name }
    }

    /// Whether any attribute holds a graph (cheaper than building `subgraphs`).
    public var hasSubgraphs: Bool { attributes.contains { $0.graph != nil || !$0.graphs.isEmpty } }

    /// Subgraphs of this node (If branches, Loop/Scan bodies), in attribute order.
    public var subgraphs: [Graph] {
        guard hasSubgraphs else { return [] }  // nearly every node: no arrays built
        return attributes.flatMap { ($0.graph.map { [$0] } ?? []) + $0.graphs }
    }

    public func message() -> Onnx_NodeProto {
        var p = proto
        p.attribute = attributes.map { $0.message() }
        return p
    }
}
