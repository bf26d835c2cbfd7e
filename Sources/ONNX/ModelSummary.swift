import Tensors

/// What `halfpipe inspect` reports about a model: interface, opsets, op histogram, parameters by
/// element type, and the FP16 risks of its constants. Codable, so `--json` is this struct.
public struct ModelSummary: Codable, Sendable {
    public struct Value: Codable, Sendable {
        public var name: String
        /// ONNX element type name ("float", "float16" …), or the value kind if not a tensor.
        public var type: String
        /// Dimensions: numbers, symbolic names, or "?"; nil when the rank is unknown.
        public var shape: [String]?
    }
    public struct Opset: Codable, Sendable {
        public var domain: String
        public var version: Int
    }
    public struct OpCount: Codable, Sendable {
        public var op: String
        public var count: Int
    }
    public struct ParameterGroup: Codable, Sendable {
        public var elementType: String
        public var tensors: Int
        public var elements: Int
        public var bytes: Int
    }

    public var path: String
    public var irVersion: Int
    public var producer: String
    public var graphName: String
    public var opsets: [Opset]
    public var inputs: [Value]
    public var outputs: [Value]
    /// Nodes of the main graph, and of all graphs including If/Loop/Scan bodies.
    public var nodes: Int
    public var nodesIncludingSubgraphs: Int
    public var ops: [OpCount]
    /// Elements of all initializers plus all float tensors held by Constant nodes.
    public var parameters: Int
    public var parameterBytes: Int
    public var parametersByType: [ParameterGroup]
    public var functions: [String]
    public var metadata: [String: String]
    public var risks: FP16Risks

    /// Summarises `model`, loaded from `path`.
    public init(_ model: Model, path: String) throws(ONNXError) {
        self.path = path
        irVersion = model.irVersion
        producer = model.producer
        graphName = model.graph.name
        opsets = model.opsets.map { Opset(domain: $0.domain, version: $0.version) }
        // Weights that are also listed as graph inputs (IR < 4) are not model inputs to feed.
        let initializerNames = Set(model.graph.initializers.map(\.name))
        inputs = model.graph.inputs.filter { !initializerNames.contains($0.name) }.map(Self.describe)
        outputs = model.graph.outputs.map(Self.describe)
        nodes = model.graph.nodes.count
        let graphs = model.allGraphs
        nodesIncludingSubgraphs = graphs.reduce(0) { $0 + $1.nodes.count }
        var histogram: [String: Int] = [:]
        for graph in graphs {
            for node in graph.nodes {
                histogram[node.domain.isEmpty ? node.opType : "\(node.domain):\(node.opType)", default: 0] += 1
            }
        }
        ops = histogram.map { OpCount(op: $0.key, count: $0.value) }.sorted { ($0.count, $1.op) > ($1.count, $0.op) }
        functions = model.functions.map { $0.domain.isEmpty ? $0.name : "\($0.domain):\($0.name)" }
        metadata = Dictionary(model.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })

        let constants = ConstantTensor.all(in: model)
        var groups: [DType: ParameterGroup] = [:]
        for c in constants {
            let dtype = c.dtype
            let name = dtype?.name ?? "type \(c.proto.dataType)"
            var g = groups[dtype ?? .string] ?? ParameterGroup(elementType: name, tensors: 0, elements: 0, bytes: 0)
            g.tensors += 1
            g.elements += c.elementCount
            g.bytes += c.byteCount
            groups[dtype ?? .string] = g
        }
        parametersByType = groups.values.sorted { $0.bytes > $1.bytes }
        parameters = constants.reduce(0) { $0 + $1.elementCount }
        parameterBytes = constants.reduce(0) { $0 + $1.byteCount }
        risks = try FP16Risks(model: model, constants: constants)
    }

    private static func describe(_ value: ValueInfo) -> Value {
        let type: String
        switch value.kind {
        case .tensor: type = value.elementType?.name ?? "?"
        case .undeclared: type = "?"
        default: type = "\(value.kind)(\(value.elementType?.name ?? "?"))"
        }
        return Value(name: value.name, type: type, shape: value.shape?.map(\.description))
    }
}

/// A constant tensor of the model: an initializer, or the tensor a Constant node holds.
struct ConstantTensor {
    var name: String
    var proto: Onnx_TensorProto
    /// Op types that read the value (for the risk report).
    var consumers: [String]

    var dtype: DType? { DType(rawValue: proto.dataType) }
    var elementCount: Int { proto.dims.reduce(1) { $0 * Int($1) } }
    var byteCount: Int {
        if dtype == .string { return proto.stringData.reduce(0) { $0 + $1.count } }
        return dtype?.byteCount(elements: elementCount) ?? 0
    }

    /// Initializers of every graph, and every floating-point tensor of a Constant node
    /// (value / value_float / value_floats), as Paddle exports keep their weights there.
    static func all(in model: Model) -> [ConstantTensor] {
        var result: [ConstantTensor] = []
        for graph in model.allGraphs {
            let uses = DefUse(graph)
            let consumerOps = { (name: String) in uses.consumers(of: name).map(\.node.opType) }
            for initializer in graph.initializers {
                result.append(ConstantTensor(name: initializer.name, proto: initializer.proto, consumers: consumerOps(initializer.name)))
            }
            for node in graph.nodes where node.opType == "Constant" && node.domain.isEmpty {
                guard let attribute = node.attributes.first, let output = node.outputs.first else { continue }
                var tensor: Onnx_TensorProto
                switch attribute.name {
                case "value":
                    guard let t = attribute.tensor, DType(rawValue: t.dataType)?.isFloatingPoint == true else { continue }
                    tensor = t
                case "value_float":
                    tensor = Onnx_TensorProto()
                    tensor.dataType = DType.float32.rawValue
                    tensor.floatData = [attribute.proto.f]
                case "value_floats":
                    tensor = Onnx_TensorProto()
                    tensor.dataType = DType.float32.rawValue
                    tensor.dims = [Int64(attribute.proto.floats.count)]
                    tensor.floatData = attribute.proto.floats
                default: continue
                }
                tensor.name = output
                result.append(ConstantTensor(name: output, proto: tensor, consumers: consumerOps(output)))
            }
        }
        return result
    }
}
