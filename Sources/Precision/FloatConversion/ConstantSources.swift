import ONNX
import Tensors

/// The float32 constants of one graph a conversion may narrow: initializers that no graph input
/// overrides, and Constant nodes (whose `value_float(s)` forms are turned into tensors first).
struct ConstantSources {
    private var initializerIndex: [String: Int] = [:]
    private var constantNodes: [String: Node] = [:]
    private let graph: Graph
    /// Folded weights of this graph whose scaling is still to apply (see `PendingScales`).
    private let pending: PendingScales
    /// Narrowings asked for and not yet done (see `finish`).
    private var jobs: [NarrowingJob] = []

    init(_ graph: Graph, graphInputs: Set<String>, pending: PendingScales = PendingScales()) {
        self.graph = graph
        self.pending = pending
        for (i, initializer) in graph.initializers.enumerated() where !graphInputs.contains(initializer.name) && initializer.dtype == .float32 {
            initializerIndex[initializer.name] = i
        }
        for node in graph.nodes where node.opType == "Constant" && node.canonicalDomain == "ai.onnx" && node.attributes.count == 1 {
            guard let output = node.outputs.first, let tensor = Self.floatTensor(node, name: output) else { continue }
            // `value_float(s)` become a `value` tensor; a `value` stays as it is (rewriting it
            // would copy every Constant's message for nothing).
            if node.attributes[0].name != "value" { node.attributes = [.tensor("value", tensor)] }
            constantNodes[output] = node
        }
    }

    /// A Constant node's float32 value as a tensor, from `value`, `value_float` or `value_floats`.
    private static func floatTensor(_ node: Node, name: String) -> Onnx_TensorProto? {
        let a = node.attributes[0]
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = DType.float32.rawValue
        switch a.name {
        case "value":
            guard let v = a.tensor, v.dataType == DType.float32.rawValue, v.dataLocation != .external else { return nil }
            return v
        case "value_float":
            guard let f = a.float else { return nil }
            t.floatData = [f]
        case "value_floats":
            t.dims = [Int64(a.floats.count)]
            t.floatData = a.floats
        default:
            return nil
        }
        return t
    }

    var names: Set<String> { Set(initializerIndex.keys).union(constantNodes.keys) }

    func contains(_ name: String) -> Bool { initializerIndex[name] != nil || constantNodes[name] != nil }

    /// The constant's float32 data; a pending folded weight is scaled first, for good.
    func proto(_ name: String) -> Onnx_TensorProto? {
        if let i = initializerIndex[name] {
            if let scale = pending.take(name) { graph.initializers[i].proto.rawData = scale.float32(from: graph.initializers[i].proto.rawData) }
            return graph.initializers[i].proto
        }
        return constantNodes[name]?[attribute: "value"]?.tensor
    }

    /// The largest finite |x| of a constant (0 when it cannot be read).
    func largestAbs(_ name: String) -> Double {
        guard let p = proto(name), let tensor = try? TensorCodec.decode(p) else { return 0 }
        var m: Float = 0
        tensor.withUnsafeBufferPointer(as: Float.self) { for v in $0 where v.isFinite { m = max(m, abs(v)) } }
        return Double(m)
    }

    /// Narrows the constant in place (same name): queued, done by `finish`. Until then the
    /// constant still holds its float32 data.
    mutating func narrow(_ name: String, to target: DType, tiny: TinyValuePolicy) {
        if let i = initializerIndex[name] {
            jobs.append(NarrowingJob(site: .initializer(i), proto: graph.initializers[i].proto, target: target, tiny: tiny, scale: pending.take(name)))
        } else if let node = constantNodes[name], let p = node[attribute: "value"]?.tensor {
            jobs.append(NarrowingJob(site: .node(node), proto: p, target: target, tiny: tiny, scale: nil))
        }
    }

    /// Scales the pending folded weights nobody narrowed (their layers stayed float32).
    func settle() {
        for name in pending.byName.keys where initializerIndex[name] != nil { _ = proto(name) }
    }

    /// Adds an unchanged copy named `copy` (float32 data for consumers that stay float32 when the
    /// original is narrowed in place); returns a Constant node to place when the original is one.
    mutating func addCopy(of name: String, as copy: String) -> Node? {
        guard var p = proto(name) else { return nil }
        p.name = copy
        if initializerIndex[name] != nil {
            graph.initializers.append(Initializer(proto: p))
            return nil
        }
        return Node(opType: "Constant", inputs: [], outputs: [copy], attributes: [.tensor("value", p)])
    }

    /// Adds a narrowed copy named `copy` beside the original (an initializer, or a Constant node
    /// to place before `before`); the narrowing itself is queued for `finish`.
    mutating func addNarrowedCopy(of name: String, as copy: String, to target: DType, tiny: TinyValuePolicy) -> Node? {
        guard var p = proto(name) else { return nil }
        p.name = copy
        if initializerIndex[name] != nil {
            graph.initializers.append(Initializer(proto: p))
            jobs.append(NarrowingJob(site: .initializer(graph.initializers.count - 1), proto: p, target: target, tiny: tiny, scale: nil))
            return nil
        }
        let node = Node(opType: "Constant", inputs: [], outputs: [copy], attributes: [.tensor("value", p)])
        jobs.append(NarrowingJob(site: .node(node), proto: p, target: target, tiny: tiny, scale: nil))
        return node
    }

    /// Does the queued narrowings, on every core when there is enough work (the data are
    /// independent, and one core alone is bound by memory bandwidth), and returns their clamp
    /// records in the order they were asked for.
    mutating func finish() throws(ONNXError) -> [ConstantClamp] {
        let queued = jobs
        jobs = []
        let results = NarrowingJob.runAll(queued)
        var clamps: [ConstantClamp] = []
        for (job, result) in zip(queued, results) {
            let (proto, clamp) = try result.get()
            switch job.site {
            case .initializer(let i): graph.initializers[i].proto = proto
            case .node(let node): node.attributes = [.tensor("value", proto)]
            }
            if let clamp { clamps.append(clamp) }
        }
        return clamps
    }
}

/// Fresh value names that collide with nothing in the model (any graph, any function).
struct UniqueNames {
    private var taken = Set<String>()

    init(_ model: Model) {
        taken.reserveCapacity(model.graph.nodes.count * 3 + model.graph.initializers.count)
        for graph in model.allGraphs {
            taken.formUnion(graph.inputs.map(\.name))
            taken.formUnion(graph.outputs.map(\.name))
            taken.formUnion(graph.valueInfo.map(\.name))
            taken.formUnion(graph.initializers.map(\.name))
            taken.formUnion(graph.proto.sparseInitializer.map(\.values.name))
            for node in graph.nodes { taken.formUnion(node.outputs); if !node.name.isEmpty { taken.insert(node.name) } }
        }
        for f in model.functions { for node in f.nodes { taken.formUnion(node.outputs) } }
    }

    mutating func make(_ base: String) -> String {
        var name = base
        var k = 1
        while taken.contains(name) { name = "\(base)_\(k)"; k += 1 }
        taken.insert(name)
        return name
    }
}

extension DType {
    /// Short suffix for generated names.
    var suffix: String {
        switch self {
        case .float16: "fp16"
        case .bfloat16: "bf16"
        case .float32: "fp32"
        default: name
        }
    }
}
