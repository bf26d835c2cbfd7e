/// Who produces and who consumes each value of one graph: a snapshot, rebuilt after edits.
///
/// Consumers include nodes of nested subgraphs that read the value from this outer scope, so a
/// pass that renames or retypes a value sees every use.
public struct DefUse {
    /// The node producing each value (absent for graph inputs and initializers).
    public private(set) var producer: [String: Node] = [:]
    /// Each use: the consuming node (possibly in a subgraph) and the input position.
    public private(set) var consumers: [String: [(node: Node, input: Int)]] = [:]

    public init(_ graph: Graph) {
        // Sized up front: growing these tables rehashed every name several times.
        producer.reserveCapacity(graph.nodes.count * 2)
        consumers.reserveCapacity(graph.nodes.count * 2)
        for node in graph.nodes {
            for output in node.outputs where !output.isEmpty { producer[output] = node }
        }
        addUses(in: graph, shadowed: [])
    }

    private mutating func addUses(in graph: Graph, shadowed: Set<String>) {
        for node in graph.nodes {
            for (i, input) in node.inputs.enumerated() where !input.isEmpty && !shadowed.contains(input) {
                consumers[input, default: []].append((node, i))
            }
            for sub in node.subgraphs {
                // Names a subgraph defines itself hide the outer values of the same name.
                addUses(in: sub, shadowed: shadowed.union(sub.definedValueNames))
            }
        }
    }

    public func consumers(of value: String) -> [(node: Node, input: Int)] { consumers[value] ?? [] }
}

extension Graph {
    /// Renames a value everywhere it is defined or used in this graph and its subgraphs.
    public func renameValue(_ old: String, to new: String) {
        for i in inputs.indices where inputs[i].name == old { inputs[i].name = new }
        for i in outputs.indices where outputs[i].name == old { outputs[i].name = new }
        for i in valueInfo.indices where valueInfo[i].name == old { valueInfo[i].name = new }
        for i in initializers.indices where initializers[i].name == old { initializers[i].name = new }
        for node in nodes {
            node.inputs = node.inputs.map { $0 == old ? new : $0 }
            node.outputs = node.outputs.map { $0 == old ? new : $0 }
            for sub in node.subgraphs where !sub.definedValueNames.contains(old) { sub.renameValue(old, to: new) }
        }
    }
}
