import ONNX
import Tensors

/// Hands every float32 value to its consumers in the type each needs: one Cast per value and type
/// (shared by all consumers, placed before the first), constants narrowed once or kept in both
/// types, graph outputs cast back under their own names.
struct ValueResolution {
    struct Use {
        let node: Node
        let input: Int
        let want: DType
    }
    let target: DType
    private var uses: [String: [Use]] = [:]
    private var order: [String] = []
    private var outputs: [(name: String, want: DType)] = []

    init(target: DType) { self.target = target }

    mutating func use(value: String, by node: Node, at input: Int, want: DType) {
        if uses[value] == nil { order.append(value) }
        uses[value, default: []].append(Use(node: node, input: input, want: want))
    }

    mutating func graphOutput(_ name: String, want: DType) { outputs.append((name, want)) }

    mutating func apply(to graph: Graph, current: inout [String: DType], constants: inout ConstantSources,
                        options: ConversionOptions, names: inout UniqueNames, report: inout ConversionReport) throws(ONNXError) {
        var before: [ObjectIdentifier: [Node]] = [:]
        var after: [ObjectIdentifier: [Node]] = [:]
        var versions: [String: [DType: String]] = [:]
        var pinned: [String: DType] = [:]
        let graphInputs = Set(graph.inputs.map(\.name))
        let producers = Dictionary(graph.nodes.flatMap { n in n.outputs.filter { !$0.isEmpty }.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })

        func cast(_ input: String, _ output: String, _ to: DType) -> Node {
            Node(opType: "Cast", name: names.make("Cast_" + output), inputs: [input], outputs: [output], attributes: [.type("to", to)])
        }

        // Graph outputs produced in another type than they must have: the producer's output is
        // renamed and a Cast gives the output its name back.
        for (name, want) in outputs {
            if constants.contains(name) { pinned[name] = want; continue }
            let have = current[name] ?? .float32
            guard have != want else { continue }
            guard let producer = producers[name], !graphInputs.contains(name) else {
                report.warnings.append("graph output '\(name)' is a graph input of another type; left as it is")
                continue
            }
            let renamed = names.make("\(name)_\(have.suffix)")
            producer.outputs = producer.outputs.map { $0 == name ? renamed : $0 }
            // Subgraphs reading the value from this scope keep reading the unconverted one.
            for node in graph.nodes {
                for sub in node.subgraphs where !sub.definedValueNames.contains(name) { sub.renameValue(name, to: renamed) }
            }
            let node = cast(renamed, name, want)
            after[ObjectIdentifier(producer), default: []].append(node)
            report.castsInserted += 1
            versions[name] = [have: renamed, want: name]
            current[renamed] = have
            current[name] = want
        }

        let nestedReads = Set(graph.nodes.flatMap { $0.subgraphs.flatMap(\.outerScopeReads) })
        for value in order {
            let valueUses = uses[value]!
            if constants.contains(value) {
                try resolveConstant(value, valueUses, pinned: pinned[value], nestedRead: nestedReads.contains(value),
                                    constants: &constants, current: &current, options: options, names: &names, report: &report,
                                    before: &before)
                continue
            }
            var available = versions[value] ?? [(current[value] ?? .float32): value]
            let source = available[current[value] ?? .float32] ?? value
            for use in valueUses {
                if let name = available[use.want] {
                    if name != value { use.node.inputs[use.input] = name }
                    continue
                }
                let name = names.make("\(value)_\(use.want.suffix)")
                before[ObjectIdentifier(use.node), default: []].append(cast(source, name, use.want))
                report.castsInserted += 1
                available[use.want] = name
                current[name] = use.want
                use.node.inputs[use.input] = name
            }
        }
        // Constants never read by a node but named as outputs.
        for (name, want) in pinned where uses[name] == nil && want != .float32 {
            constants.narrow(name, to: want, tiny: options.tinyValues)
            report.constantsConverted += 1
            current[name] = want
        }

        report.clamps += try constants.finish()

        var nodes: [Node] = []
        nodes.reserveCapacity(graph.nodes.count + before.count + after.count)
        for node in graph.nodes {
            nodes += before[ObjectIdentifier(node)] ?? []
            nodes.append(node)
            nodes += after[ObjectIdentifier(node)] ?? []
        }
        graph.nodes = nodes
    }

    private func resolveConstant(_ value: String, _ valueUses: [Use], pinned: DType?, nestedRead: Bool,
                                 constants: inout ConstantSources, current: inout [String: DType], options: ConversionOptions,
                                 names: inout UniqueNames, report: inout ConversionReport,
                                 before: inout [ObjectIdentifier: [Node]]) throws(ONNXError) {
        let wants = Set(valueUses.map(\.want))
        // The type the constant keeps under its own name: what a graph output or a subgraph needs,
        // else float32 if any consumer stays float32, else the target.
        let base: DType = pinned ?? (wants.contains(.float32) || nestedRead ? .float32 : target)
        // A graph output pins the narrowed type but float32 consumers remain: they get a float32
        // copy of the original data, made before the narrowing (a Cast back would read clamped values).
        var widened: String?
        if base != .float32, let first = valueUses.first(where: { $0.want == .float32 }) {
            let name = names.make("\(value)_fp32")
            if let node = constants.addCopy(of: value, as: name) { before[ObjectIdentifier(first.node), default: []].append(node) }
            report.constantsDuplicated += 1
            current[name] = .float32
            widened = name
        }
        if base != .float32 {
            constants.narrow(value, to: base, tiny: options.tinyValues)
            report.constantsConverted += 1
            current[value] = base
        }
        var other: String?
        for use in valueUses where use.want != base {
            if use.want == .float32, let widened {
                use.node.inputs[use.input] = widened
                continue
            }
            if other == nil {
                let name = names.make("\(value)_\(use.want.suffix)")
                if let node = constants.addNarrowedCopy(of: value, as: name, to: use.want, tiny: options.tinyValues) {
                    before[ObjectIdentifier(use.node), default: []].append(node)
                }
                report.constantsDuplicated += 1
                current[name] = use.want
                other = name
            }
            use.node.inputs[use.input] = other!
        }
    }
}
