/// Orders nodes so every value is produced before it is used (Kahn's algorithm, stable: among
/// ready nodes the earliest in the current order goes first, so sorted graphs stay unchanged).
public enum TopologicalSort {
    /// The nodes of `graph` in dependency order, or the nodes caught in a cycle.
    public static func order(_ graph: Graph) -> Result<[Node], CycleError> {
        if isSorted(graph) { return .success(graph.nodes) }
        let nodes = graph.nodes
        var producerIndex: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { producerIndex[output] = i }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var dependents = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            // A node depends on its own inputs and on outer values its subgraphs read.
            var deps = Set<Int>()
            for name in node.inputs + node.subgraphs.flatMap(\.outerScopeReads) {
                if let p = producerIndex[name] { deps.insert(p) }  // p == i: a self-loop, reported as a cycle
            }
            pending[i] = deps.count
            for d in deps { dependents[d].append(i) }
        }
        var ready = MinHeap((0..<nodes.count).filter { pending[$0] == 0 })
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.popMin() {
            order.append(nodes[i])
            for d in dependents[i] {
                pending[d] -= 1
                if pending[d] == 0 { ready.insert(d) }
            }
        }
        if order.count < nodes.count {
            let stuck = (0..<nodes.count).filter { pending[$0] > 0 }.map { nodes[$0] }
            return .failure(CycleError(nodeLabels: stuck.map(\.label)))
        }
        return .success(order)
    }

    /// Whether every node's inputs are produced before it (or come from outside the graph's nodes):
    /// one linear pass, so already-sorted graphs (nearly all) skip Kahn's algorithm. Nodes with
    /// subgraphs send the graph down the full path (their outer reads need the closure).
    static func isSorted(_ graph: Graph) -> Bool {
        // The first node producing each value (filled backwards, so the earliest wins): one table,
        // one lookup per input. An input produced at or after its reader means not sorted.
        let nodes = graph.nodes
        var firstProducer = [String: Int](minimumCapacity: nodes.count * 2)
        for i in nodes.indices.reversed() {
            if nodes[i].hasSubgraphs { return false }
            for o in nodes[i].outputs where !o.isEmpty { firstProducer[o] = i }
        }
        for (i, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty {
                if let p = firstProducer[input], p >= i { return false }
            }
        }
        return true
    }

    /// Sorts `graph` (and its subgraphs) in place; throws if there is a cycle.
    public static func sort(_ graph: Graph) throws(ONNXError) {
        switch order(graph) {
        case .success(let sorted): graph.nodes = sorted
        case .failure(let cycle): throw .invalidGraph([cycle.issue])
        }
        for node in graph.nodes { for sub in node.subgraphs { try sort(sub) } }
    }

    public struct CycleError: Error {
        /// Labels of the nodes on or behind the cycle.
        public let nodeLabels: [String]
        var issue: ValidationIssue {
            ValidationIssue(kind: .cycle, node: nodeLabels.first, value: nil,
                            message: "cycle through \(nodeLabels.count) node(s): " + nodeLabels.prefix(5).joined(separator: ", "))
        }
    }
}

extension Graph {
    /// Values read by this graph's nodes (and nested subgraphs) that it does not define itself.
    public var outerScopeReads: [String] {
        let defined = definedValueNames
        var reads: [String] = []
        var seen = Set<String>()
        for node in nodes {
            for name in node.inputs + node.subgraphs.flatMap(\.outerScopeReads)
            where !name.isEmpty && !defined.contains(name) && seen.insert(name).inserted {
                reads.append(name)
            }
        }
        return reads
    }
}

/// A binary min-heap of node indices: the earliest ready node goes next.
private struct MinHeap {
    private var items: [Int] = []
    init(_ initial: [Int]) { for i in initial { insert(i) } }

    mutating func insert(_ value: Int) {
        items.append(value)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }

    mutating func popMin() -> Int? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return first
    }
}
