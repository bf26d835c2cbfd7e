import ONNX
import Tensors

/// Removes Casts that do nothing after a conversion: identities (float16 → float16, as a model's own
/// `Cast(to=FLOAT)` becomes once its input is float16), and Casts whose output nobody reads. Graph
/// outputs are never renamed, so a Cast producing one stays. Chains that would lose precision
/// (float32 → float16 → float32) are left alone: they are the conversion's meaning, not redundancy.
enum CastCleanup {
    /// Cleans `graph` and its subgraphs; returns how many Casts were removed.
    static func run(_ model: Model) -> Int {
        // Removing an identity Cast renames its output to its input, which has the same type, and
        // removing a dead one only drops a name: the inferred types stay right for every value
        // left, so one inference serves every round (rounds catch Casts made dead by a removal).
        let inference = TypeInference(model)
        var removed = 0
        while true {
            var round = 0
            for graph in model.allGraphs { round += clean(graph, types: inference.types(in: graph)) }
            guard round > 0 else { return removed }
            removed += round
        }
    }

    private static func clean(_ graph: Graph, types: [String: DType]) -> Int {
        let outputs = Set(graph.outputs.map(\.name))
        let uses = DefUse(graph)
        var removed = 0
        for node in graph.nodes where node.opType == "Cast" && node.canonicalDomain == "ai.onnx" {
            guard let input = node.inputs.first, !input.isEmpty, let output = node.outputs.first, !outputs.contains(output) else { continue }
            let dead = uses.consumers(of: output).isEmpty
            let identity = types[input] != nil && types[input] == types[output]
            guard dead || identity else { continue }
            // A subgraph defining its own value named like the Cast's input would capture the rename.
            if !dead && graph.nestedGraphs.contains(where: { $0.definedValueNames.contains(input) }) { continue }
            graph.nodes.removeAll { $0 === node }
            graph.valueInfo.removeAll { $0.name == output }
            if !dead { graph.renameValue(output, to: input) }
            removed += 1
        }
        return removed
    }
}
