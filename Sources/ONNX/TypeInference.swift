import Tensors

/// Element-type inference over a whole model: for every value of every graph (subgraphs and
/// model-local functions included), the tensor element type it carries (for sequences and
/// optionals, that of the tensors inside). Table-driven from ONNX's schemas, with hand-written
/// rules where the type comes from an attribute tensor, a subgraph or quantization parameters.
public struct TypeInference {
    /// Inferred types per graph (keyed by the graph object).
    private var types: [ObjectIdentifier: [String: DType]] = [:]
    private let model: Model
    private var functionsByKey: [String: Function] = [:]
    /// Rules already looked up (the lookup builds a key string and filters versions: per node it showed in profiles).
    private var ruleCache: [RuleKey: OperatorTypeRule?] = [:]
    private struct RuleKey: Hashable {
        let domain: String
        let opType: String
        let version: Int?
    }

    /// Runs inference over `model`.
    public init(_ model: Model) {
        self.model = model
        for f in model.functions { functionsByKey["\(f.domain):\(f.name)"] = f }
        _ = infer(model.graph, outer: [:])
    }

    /// The element types of the values `graph` defines or reads (outer-scope values included).
    public func types(in graph: Graph) -> [String: DType] { types[ObjectIdentifier(graph)] ?? [:] }

    /// Values of `graph` whose type could not be inferred (custom ops, missing declarations).
    public func untypedValues(in graph: Graph) -> [String] {
        let known = types(in: graph)
        var out: [String] = []
        for node in graph.nodes { for o in node.outputs where !o.isEmpty && known[o] == nil { out.append(o) } }
        return out
    }

    @discardableResult
    private mutating func infer(_ graph: Graph, outer: [String: DType]) -> [String: DType] {
        var env = outer
        for initializer in graph.initializers { if let t = initializer.dtype { env[initializer.name] = t } }
        for sparse in graph.proto.sparseInitializer { if let t = DType(rawValue: sparse.values.dataType) { env[sparse.values.name] = t } }
        for input in graph.inputs { if let t = input.elementType { env[input.name] = t } }
        // Declared intermediate types fill gaps where a rule cannot (custom ops); rules take precedence.
        var declared: [String: DType] = [:]
        for v in graph.valueInfo + graph.outputs { if let t = v.elementType { declared[v.name] = t } }
        let ordered = (try? TopologicalSort.order(graph).get()) ?? graph.nodes
        for node in ordered {
            let inferred = outputTypes(of: node, env: env, opsetImports: model.opsets)
            for (i, output) in node.outputs.enumerated() where !output.isEmpty {
                if let t = inferred.indices.contains(i) ? inferred[i] : nil { env[output] = t } else if let t = declared[output] { env[output] = t }
            }
        }
        types[ObjectIdentifier(graph)] = env
        return env
    }

    /// The element type of each output of `node`, nil where unknown.
    mutating func outputTypes(of node: Node, env: [String: DType], opsetImports: [(domain: String, version: Int)]) -> [DType?] {
        func input(_ i: Int) -> DType? {
            guard node.inputs.indices.contains(i), !node.inputs[i].isEmpty else { return nil }
            return env[node.inputs[i]]
        }
        let domain = node.canonicalDomain
        if !functionsByKey.isEmpty, let function = functionsByKey["\(node.domain):\(node.opType)"] {
            return inferCall(of: function, node: node, env: env)
        }
        let version = opsetImports.first { $0.domain == domain }?.version
        if let special = specialOutputTypes(node, input: input, env: env, version: version) { return special }
        let key = RuleKey(domain: domain, opType: node.opType, version: version)
        let cached = ruleCache[key]
        let found = cached ?? OperatorTypeRule.lookup(domain: domain, opType: node.opType, version: version)
        if cached == nil { ruleCache[key] = .some(found) }
        guard let rule = found else {
            return Array(repeating: nil, count: node.outputs.count)
        }
        return node.outputs.indices.map { i -> DType? in
            guard let r = rule.outputs.indices.contains(i) ? rule.outputs[i] : rule.outputs.last else { return nil }
            switch r {
            case .input(let k): return input(k)
            case .fixed(let t): return t
            case .attribute(let name, let fallback): return node[attribute: name]?.int.flatMap { DType(rawValue: Int32($0)) } ?? fallback
            case .attributeOrInput(let name, let k): return node[attribute: name]?.int.flatMap { DType(rawValue: Int32($0)) } ?? input(k)
            case .special: return nil
            }
        }
    }

    /// Hand-written rules; nil when the table applies.
    private mutating func specialOutputTypes(_ node: Node, input: (Int) -> DType?, env: [String: DType], version: Int?) -> [DType?]? {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return nil }
        func typeAttribute(_ name: String) -> DType? {
            guard let v = node[attribute: name]?.int, v != 0 else { return nil }
            return DType(rawValue: Int32(v))
        }
        switch node.opType {
        case "Constant":
            guard let a = node.attributes.first else { return [nil] }
            switch a.name {
            case "value": return [a.tensor.flatMap { DType(rawValue: $0.dataType) }]
            case "sparse_value": return [DType(rawValue: a.proto.sparseTensor.values.dataType)]
            case "value_float", "value_floats": return [.float32]
            case "value_int", "value_ints": return [.int64]
            case "value_string", "value_strings": return [.string]
            default: return [nil]
            }
        case "ConstantOfShape":
            return [node[attribute: "value"]?.tensor.flatMap { DType(rawValue: $0.dataType) } ?? .float32]
        case "Cast" where (version ?? 99) < 6:
            // Opset 1 spelled the target type as a string such as "FLOAT".
            return [node[attribute: "to"]?.string.flatMap { Self.legacyTypeName($0) }]
        case "QuantizeLinear":
            return [typeAttribute("output_dtype") ?? input(2) ?? .uint8]
        case "DequantizeLinear":
            return [typeAttribute("output_dtype") ?? input(1) ?? .float32]
        case "If":
            let branch = node[attribute: "then_branch"]?.graph ?? node[attribute: "else_branch"]?.graph
            if let other = node[attribute: "else_branch"]?.graph { infer(other, outer: env) }
            guard let branch else { return nil }
            let inner = infer(branch, outer: env)
            return branch.outputs.map { inner[$0.name] ?? $0.elementType }
        case "Loop":
            guard let body = node[attribute: "body"]?.graph else { return nil }
            var scope = env
            // Body inputs: iteration count, condition, then the loop-carried values.
            for (i, v) in body.inputs.enumerated() {
                let t: DType? = i == 0 ? .int64 : i == 1 ? .bool : input(i)
                if let t = t ?? v.elementType { scope[v.name] = t }
            }
            let inner = infer(body, outer: scope)
            return body.outputs.dropFirst().map { inner[$0.name] ?? $0.elementType }
        case "Scan":
            guard let body = node[attribute: "body"]?.graph else { return nil }
            var scope = env
            // Opset 8 Scan takes an optional sequence_lens first; later versions do not.
            let offset = (version ?? 99) < 9 ? 1 : 0
            for (i, v) in body.inputs.enumerated() { if let t = input(i + offset) ?? v.elementType { scope[v.name] = t } }
            let inner = infer(body, outer: scope)
            return body.outputs.map { inner[$0.name] ?? $0.elementType }
        case "SequenceMap":
            guard let body = node[attribute: "body"]?.graph else { return nil }
            var scope = env
            for (i, v) in body.inputs.enumerated() { if let t = input(i) ?? v.elementType { scope[v.name] = t } }
            let inner = infer(body, outer: scope)
            return body.outputs.map { inner[$0.name] ?? $0.elementType }
        case "SequenceEmpty":
            return [typeAttribute("dtype") ?? .float32]
        case "Optional":
            return [input(0) ?? node[attribute: "type"].flatMap { $0.proto.hasTp ? $0.proto.tp.elementType : nil }]
        case "SequenceConstruct", "SequenceAt", "SequenceErase", "SequenceInsert", "SplitToSequence",
            "ConcatFromSequence", "OptionalGetElement":
            // We track the element type of the tensors a sequence or optional holds.
            return [input(0)]
        case "LinearAttention":
            return node.outputs.indices.map { _ in input(0) }
        default:
            return nil
        }
    }

    private mutating func inferCall(of function: Function, node: Node, env: [String: DType]) -> [DType?] {
        var scope: [String: DType] = [:]
        for (i, name) in function.proto.input.enumerated() where node.inputs.indices.contains(i) {
            if let t = env[node.inputs[i]] { scope[name] = t }
        }
        let imports = function.proto.opsetImport.map { ($0.domain.isEmpty ? "ai.onnx" : $0.domain, Int($0.version)) }
        for inner in function.nodes {
            let out = outputTypes(of: inner, env: scope, opsetImports: imports.isEmpty ? model.opsets : imports)
            for (i, o) in inner.outputs.enumerated() where !o.isEmpty { if let t = out.indices.contains(i) ? out[i] : nil { scope[o] = t } }
        }
        return function.proto.output.map { scope[$0] }
    }

    static func legacyTypeName(_ name: String) -> DType? {
        switch name.uppercased() {
        case "FLOAT": .float32
        case "FLOAT16": .float16
        case "DOUBLE": .float64
        default: DType(name: name.lowercased())
        }
    }
}

extension Model {
    /// Ops whose outputs are sequences or optionals: a tensor declaration would be wrong for them.
    /// (Control-flow outputs are skipped too: their kind follows the body.)
    public static let nonTensorProducers: Set<String> = [
        "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase", "SplitToSequence",
        "Optional", "SequenceMap",
    ]

    /// Adds a `value_info` declaration for every intermediate value whose element type is inferred
    /// but not declared, and fills undeclared element types of graph outputs. Returns how many.
    @discardableResult
    public func fillMissingTypes() -> Int {
        let inference = TypeInference(self)
        var added = 0
        for graph in allGraphs {
            let types = inference.types(in: graph)
            for i in graph.outputs.indices where graph.outputs[i].elementType == nil {
                if let t = types[graph.outputs[i].name] { graph.outputs[i].elementType = t; added += 1 }
            }
            var declared = Set(graph.inputs.map(\.name) + graph.outputs.map(\.name) + graph.valueInfo.map(\.name))
            declared.formUnion(graph.initializers.map(\.name))
            for node in graph.nodes where !Self.nonTensorProducers.contains(node.opType) && node.subgraphs.isEmpty {
                for o in node.outputs where !o.isEmpty && !declared.contains(o) {
                    guard let t = types[o] else { continue }
                    graph.valueInfo.append(ValueInfo(name: o, elementType: t, shape: nil))
                    declared.insert(o)
                    added += 1
                }
            }
        }
        return added
    }
}
