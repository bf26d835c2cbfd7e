import ONNX
import Tensors

/// The float32 → float16/bfloat16 rewrite of one model, graph by graph (subgraphs inside out from
/// their outer scope). Nodes are decided one by one in dependency order; then each value is given to
/// its consumers in the type they need, through at most one Cast per value and type, and each
/// constant is narrowed once (or kept in both types when a kept node also reads it).
struct LowPrecisionPass {
    let model: Model
    let options: ConversionOptions
    let inference: TypeInference
    var report: ConversionReport
    var names: UniqueNames
    private var functionKeys: Set<String>

    /// Folded weights of the main graph still to be scaled (see `PendingScales`).
    private let pending: PendingScales

    init(model: Model, options: ConversionOptions, report: ConversionReport, pending: PendingScales = PendingScales()) {
        self.model = model
        self.pending = pending
        self.options = options
        self.report = report
        inference = TypeInference(model)
        names = UniqueNames(model)
        functionKeys = Set(model.functions.map { "\($0.domain):\($0.name)" })
    }

    mutating func run() throws(ONNXError) {
        try convert(model.graph, path: "main", outer: [:])
    }

    var target: DType { options.target }

    // MARK: one graph

    private mutating func convert(_ graph: Graph, path: String, outer: [String: DType]) throws(ONNXError) {
        let original = inference.types(in: graph)
        let isMain = path == "main"
        let graphInputs = Set(graph.inputs.map(\.name))
        var constants = ConstantSources(graph, graphInputs: graphInputs, pending: isMain ? pending : PendingScales())
        defer { constants.settle() }
        var resolution = ValueResolution(target: target)

        // Types values carry after conversion; constants are resolved at their uses.
        let order = try sorted(graph)
        let nonTensors = graph.nonTensorValues(order: order)
        var current = outer
        let overridable = Set(graph.initializers.map(\.name))
        for input in graph.inputs where original[input.name] == .float32 {
            // An input with an initializer (a default the caller may override) keeps its type: its
            // data and its declaration must agree. Sequences and optionals cannot take a Cast.
            let keep = !isMain || options.keepIOTypes.keeps(input.name) || overridable.contains(input.name) || nonTensors.contains(input.name)
            current[input.name] = keep ? .float32 : target
            if !keep { if let i = graph.inputs.firstIndex(where: { $0.name == input.name }) { graph.inputs[i].elementType = target } }
        }
        let shapeNodes = ShapeArithmetic.nodes(in: order, types: original, constants: constants.names) { node, i in
            self.slots(of: node)?.input(i).map { !$0.allows(self.target) } ?? false
        }

        for node in order {
            if node.opType == "Constant" && node.canonicalDomain == "ai.onnx" { continue }  // data: resolved at its uses
            let decision = decide(node, types: original, current: current, constants: constants, shapeNodes: shapeNodes, nonTensors: nonTensors)
            var variables: [Int: DType] = [:]
            switch decision {
            case .untouched:
                report.untouchedNodes += 1
            case .kept(let reason):
                report.keptNodes.append(.init(node: node.label, opType: node.opType, graph: path, reason: reason))
            case .converted(let v):
                variables = v
                report.convertedNodes += 1
                report.convertedByOpType[node.opType, default: 0] += 1
            }
            let slots = slots(of: node)
            // Inputs: the type this node needs at each float32 input.
            for (i, input) in node.inputs.enumerated() where !input.isEmpty && original[input] == .float32 && !nonTensors.contains(input) {
                var want: DType = .float32
                if case .converted = decision, let slot = slots?.input(i), let t = variables[slot.variable] { want = t }
                if case .converted = decision, want == .float32, slots?.input(i)?.allows(target) == false {
                    report.keptInputs.append(.init(node: node.label, input: i, value: input, reason: "the operator takes only float32 here"))
                }
                resolution.use(value: input, by: node, at: i, want: want)
            }
            // Outputs: the type each float32 output now has.
            for (i, output) in node.outputs.enumerated() where !output.isEmpty && original[output] == .float32 {
                var produced: DType = .float32
                if case .converted = decision {
                    produced = outputType(node, index: i, slots: slots, variables: variables, current: current)
                }
                current[output] = produced
            }
        }

        // Graph outputs: float32 where kept (subgraph outputs always: their node's boundary is float32).
        for output in graph.outputs where original[output.name] == .float32 && !nonTensors.contains(output.name) {
            let want: DType = isMain && !options.keepIOTypes.keeps(output.name) ? target : .float32
            resolution.graphOutput(output.name, want: want)
            if let i = graph.outputs.firstIndex(where: { $0.name == output.name }) { graph.outputs[i].elementType = want }
        }

        try resolution.apply(to: graph, current: &current, constants: &constants, options: options, names: &names, report: &report)

        // Declarations follow the new types.
        for i in graph.valueInfo.indices where !nonTensors.contains(graph.valueInfo[i].name) {
            if original[graph.valueInfo[i].name] == .float32, let t = current[graph.valueInfo[i].name], t != .float32 {
                graph.valueInfo[i].elementType = t
            }
        }
        for node in graph.nodes {
            for attribute in node.attributes {
                for (k, sub) in ((attribute.graph.map { [$0] } ?? []) + attribute.graphs).enumerated() {
                    try convert(sub, path: "\(path)/\(node.label) '\(attribute.name)\(attribute.graphs.isEmpty ? "" : "[\(k)]")'", outer: current)
                }
            }
        }
    }

    private func sorted(_ graph: Graph) throws(ONNXError) -> [Node] {
        switch TopologicalSort.order(graph) {
        case .success(let nodes): return nodes
        case .failure(let cycle): throw .invalidGraph([ValidationIssue(kind: .cycle, node: cycle.nodeLabels.first, value: nil, message: "the model has a cycle; nothing was converted")])
        }
    }

    /// Parsed slot tables per op type (the table rows are strings; parsing them per node showed in profiles).
    private final class SlotCache: @unchecked Sendable {
        var entries: [String: FloatSlots?] = [:]
    }
    private let slotCache = SlotCache()

    func slots(of node: Node) -> FloatSlots? {
        let key = "\(node.domain):\(node.opType)"
        if let cached = slotCache.entries[key] { return cached }
        let slots = FloatSlots.lookup(domain: node.domain, opType: node.opType, version: model.opsetVersion(node.canonicalDomain))
        slotCache.entries[key] = slots
        return slots
    }

    // MARK: decisions

    private mutating func decide(_ node: Node, types: [String: DType], current: [String: DType], constants: ConstantSources,
                                 shapeNodes: Set<ObjectIdentifier>, nonTensors: Set<String>) -> NodePrecision {
        let floatInputs = node.inputs.indices.filter { !node.inputs[$0].isEmpty && types[node.inputs[$0]] == .float32 }
        let floatOutputs = node.outputs.indices.filter { !node.outputs[$0].isEmpty && types[node.outputs[$0]] == .float32 }
        let attributeOutput = typeAttributes[node.opType].flatMap { node[attribute: $0]?.int } == Int(DType.float32.rawValue)
            || (node.opType == "ConstantOfShape" && node.canonicalDomain == "ai.onnx" && types[node.outputs.first ?? ""] == .float32)
        let touchesFloat = !floatInputs.isEmpty || !floatOutputs.isEmpty
        if !touchesFloat && !node.subgraphs.isEmpty { return .kept("control flow: its bodies are converted, its boundary stays float32") }
        guard touchesFloat else { return .untouched }

        if !functionKeys.isEmpty && functionKeys.contains("\(node.domain):\(node.opType)") { return .kept("model-local function: its body is not converted") }
        guard node.canonicalDomain == "ai.onnx" else {
            let note = "custom or non-standard operator \(node.opType) (domain \(node.canonicalDomain)) left in float32 with Casts around it"
            if !report.warnings.contains(note) { report.warnings.append(note) }
            return .kept("operator of domain \(node.canonicalDomain)")
        }
        if structuralOps.contains(node.opType) {
            return .kept(node.subgraphs.isEmpty ? "sequence or optional operator" : "control flow: its bodies are converted, its boundary stays float32")
        }
        if let key = node.outputs.first(where: { !$0.isEmpty }), let reason = options.keptNodes[key] { return .kept(reason) }
        if let p = options.blockedOpTypes.first(where: { $0.matches(node.opType) }) { return .kept("op type blocked (\(p))") }
        if let p = options.blockedNodeNames.first(where: { $0.matches(node.name) }), !node.name.isEmpty { return .kept("node name blocked (\(p))") }
        if node.opType == "BitCast" { return .kept("BitCast reinterprets the bits: its input type is its meaning") }
        if let wide = wideQuantization(node, types: types) {
            return .kept("\(wide) quantization needs float32 scales (float16 has 11 significant bits)")
        }
        if ["ScatterND", "ScatterElements"].contains(node.opType), let r = node[attribute: "reduction"]?.string, r != "none" {
            return .kept("scatter with reduction '\(r)' accumulates into its output")
        }
        if shapeNodes.contains(ObjectIdentifier(node)) { return .kept("integer-valued arithmetic feeding shapes or indices (float16 is exact only to 2048)") }
        if node.inputs.contains(where: nonTensors.contains) { return .kept("reads a sequence or optional") }
        guard let slots = slots(of: node) else {
            let note = "unknown operator \(node.opType) left in float32 with Casts around it"
            if !report.warnings.contains(note) { report.warnings.append(note) }
            return .kept("unknown operator")
        }
        if magnitudeSensitiveOps.contains(node.opType) {
            for i in floatInputs where constants.contains(node.inputs[i]) {
                let largest = constants.largestAbs(node.inputs[i])
                if largest > target.largestFinite {
                    return .kept("constant '\(node.inputs[i])' holds |x| up to \(shortNumber(largest)), beyond \(target.name)'s range")
                }
            }
        }

        // Type variables: each becomes the target where the schema allows it.
        var variables: [Int: DType] = [:]
        var outputVariables = Set<Int>()
        for i in floatOutputs { if let s = slots.output(i) { outputVariables.insert(s.variable) } }
        var inputTypes: [Int: Set<DType>] = [:]
        var allowed: [Int: Bool] = [:]
        for i in floatInputs {
            guard let s = slots.input(i) else { continue }
            allowed[s.variable] = (allowed[s.variable] ?? true) && s.allows(target)
            if !constants.contains(node.inputs[i]), let t = current[node.inputs[i]] { inputTypes[s.variable, default: []].insert(t) }
        }
        for i in floatOutputs { if let s = slots.output(i) { allowed[s.variable] = (allowed[s.variable] ?? true) && s.allows(target) } }
        for (variable, ok) in allowed {
            guard ok else { variables[variable] = .float32; continue }
            if !outputVariables.contains(variable), let seen = inputTypes[variable], seen.count == 1, let only = seen.first {
                variables[variable] = only  // an input-only variable (Shape's T): take the inputs as they come
            } else {
                variables[variable] = target
            }
        }
        let convertsSomething = variables.values.contains(target) || attributeOutput
        guard convertsSomething else {
            // Reads float32 as it comes (Shape, Size, Equal on float32 inputs): nothing to change.
            if floatOutputs.isEmpty && !variables.isEmpty && !allowed.values.contains(false) { return .untouched }
            let version = model.opsetVersion("ai.onnx").map { " at opset \($0)" } ?? ""
            return .kept("\(node.opType) has no \(target.name) form\(version)")
        }
        return .converted(variables: variables)
    }

    /// The quantized type of a Quantize/DequantizeLinear when it is wider than 8 bits (int16 and
    /// up: a float16 scale cannot address 65536 levels), else nil.
    private func wideQuantization(_ node: Node, types: [String: DType]) -> String? {
        let quantized: DType?
        switch node.opType {
        case "QuantizeLinear":
            quantized = node[attribute: "output_dtype"]?.int.flatMap { DType(rawValue: Int32($0)) }
                ?? (node.inputs.count > 2 && !node.inputs[2].isEmpty ? types[node.inputs[2]] : nil)
        case "DequantizeLinear":
            quantized = node.inputs.first.flatMap { types[$0] }
        default:
            return nil
        }
        guard let q = quantized, [.int16, .uint16, .int32, .uint32].contains(q) else { return nil }
        return q.name
    }

    /// The element type of converted `node`'s output `index`, rewriting FLOAT type attributes.
    private mutating func outputType(_ node: Node, index: Int, slots: FloatSlots?, variables: [Int: DType], current: [String: DType]) -> DType {
        if node.opType == "ConstantOfShape" {
            var value = node[attribute: "value"]?.tensor ?? {
                var zero = Onnx_TensorProto()
                zero.dataType = DType.float32.rawValue
                zero.dims = [1]
                zero.floatData = [0]
                return zero
            }()
            if value.dataType == DType.float32.rawValue {
                do {
                    if let clamp = try ConstantNarrowing.narrow(&value, to: target, tiny: options.tinyValues) { report.clamps.append(clamp) }
                } catch {
                    return .float32
                }
                node.attributes.removeAll { $0.name == "value" }
                node.attributes.append(.tensor("value", value))
                report.attributesRewritten.append("\(node.label).value")
                return target
            }
            return .float32
        }
        if let name = typeAttributes[node.opType] {
            if let code = node[attribute: name]?.int {
                guard code == Int(DType.float32.rawValue), slots?.output(index)?.allows(target) != false else { return DType(rawValue: Int32(code)) ?? .float32 }
                node.attributes.removeAll { $0.name == name }
                node.attributes.append(.type(name, target))
                report.attributesRewritten.append("\(node.label).\(name)")
                return target
            }
            if ["RandomNormal", "RandomUniform"].contains(node.opType) {
                // dtype defaults to FLOAT: say the target explicitly.
                node.attributes.append(.type(name, target))
                report.attributesRewritten.append("\(node.label).\(name)")
                return target
            }
            // The *Like ops without dtype follow their input.
            if let input = node.inputs.first { return current[input] ?? .float32 }
        }
        guard let slot = slots?.output(index), let t = variables[slot.variable] else { return .float32 }
        return t
    }
}

extension DType {
    /// The largest finite value of a float type (float32's for anything else).
    var largestFinite: Double {
        switch self {
        case .float16: 65504
        case .bfloat16: 3.3895313892515355e38
        default: Double(Float.greatestFiniteMagnitude)
        }
    }
}

extension Graph {
    /// Values holding sequences or optionals (we track their element type, but a Cast cannot apply):
    /// declared so, made by a sequence/optional op, passed through Identity or OptionalGetElement
    /// of an optional sequence, or returned by a control-flow body as such.
    func nonTensorValues(order: [Node]) -> Set<String> {
        let graph = self
        var values = Set<String>()
        for v in graph.inputs + graph.valueInfo + graph.outputs where [.sequence, .optional, .map].contains(v.kind) { values.insert(v.name) }
        for node in order {
            let producesNonTensor = Model.nonTensorProducers.contains(node.opType)
                || (["Identity", "OptionalGetElement"].contains(node.opType) && node.inputs.contains(where: values.contains)
                    && !declaredTensor(node.outputs.first ?? ""))
            if producesNonTensor { values.formUnion(node.outputs.filter { !$0.isEmpty }) }
            // Control-flow outputs follow their bodies' declarations.
            for sub in node.subgraphs.prefix(1) {
                let offset = node.opType == "Loop" ? 1 : 0
                for (k, o) in sub.outputs.enumerated() where [.sequence, .optional].contains(o.kind) {
                    if node.outputs.indices.contains(k - offset), k - offset >= 0 { values.insert(node.outputs[k - offset]) }
                }
            }
        }
        return values
    }

    /// Whether `name` is declared a plain tensor (OptionalGetElement of an optional tensor).
    private func declaredTensor(_ name: String) -> Bool {
        (valueInfo + outputs).contains { $0.name == name && $0.kind == .tensor }
    }
}
