import Inference
import ONNX

/// One op the engine handles (or a few that share their rules, like MaxPool and AveragePool): the
/// check `CUDAEngineBackend.supports` answers before planning, beside the lowering that plans a
/// node (as ggml keeps `supports_op` next to the kernel). The check sees only the node and what a
/// partitioner knows (types, declared shapes, small constants); a limit that needs planned shapes
/// stays a guard in the lowering, and a rule both can state is one predicate they both call.
struct OperatorEntry: Sendable {
    typealias Check = @Sendable (Node, NodeContext) -> NodeSupport
    /// Plans the node (the graph's node at `index`: fused patterns name nodes by index).
    typealias Lowering = @Sendable (inout GraphLowering, Node, _ index: Int) throws(EngineError) -> Void

    let opTypes: [String]
    /// nil: nothing known before planning refuses the op, so `mayRefuse` skips it.
    let check: Check?
    /// nil: the op is only folded on the host (`HostFolding`), where all its inputs are known once
    /// the input shapes are fixed; a node of it that must run on the device is refused.
    let lower: Lowering?

    init(_ opTypes: String..., check: Check? = nil, lower: Lowering?) {
        self.opTypes = opTypes
        self.check = check
        self.lower = lower
    }
}

/// The engine's one list of ops. Each family of entries sits in the file of its lowering; adding
/// an op (or a variant of one) is an entry there.
enum OperatorTable {
    static let entries: [String: OperatorEntry] = {
        var table: [String: OperatorEntry] = [:]
        let families = [layers, transposedConvolution, elementwise, dataMovement, pooling, normalization, resizing]
        for entry in families.joined() {
            for op in entry.opTypes {
                precondition(table[op] == nil, "\(op) has two entries in the op table")
                table[op] = entry
            }
        }
        // What only folds: shape arithmetic (Shape, Gather, ConstantOfShape…) never reaches the device.
        for op in HostFolding.foldable where table[op] == nil { table[op] = OperatorEntry(op, lower: nil) }
        return table
    }()

    static let operators = Set(entries.keys)
}

extension GraphLowering {
    /// Plans one node by its entry in the op table; a node of another domain, or of an op with no
    /// kernel, is refused by name.
    mutating func lowerNode(_ index: Int) throws(EngineError) {
        let node = graph.nodes[index]
        guard node.canonicalDomain == "ai.onnx" else { throw .refusing(node, "domain \(node.canonicalDomain) has no kernels in the engine") }
        guard let lower = OperatorTable.entries[node.opType]?.lower else { throw .refusing(node, "no kernel for this op") }
        try lower(&self, node, index)
    }
}
