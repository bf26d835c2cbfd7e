import ONNX
import Tensors

/// Drops initializers and Constant nodes nothing reads any more (a folded layer's old weights, the
/// source of a folded Cast), so they do not travel into the converted model.
enum UnusedConstants {
    /// `releasing`: also let the kernel drop the file pages of removed initializers; not while a
    /// pending folded weight (see `PendingScales`) still reads the same bytes.
    @discardableResult
    static func remove(from graph: Graph, releasing: Bool = true) -> Int {
        var used = Set(graph.outputs.map(\.name))
        used.reserveCapacity(graph.nodes.count * 2)
        for node in graph.nodes { used.formUnion(node.inputs) }
        for nested in graph.nestedGraphs { for node in nested.nodes { used.formUnion(node.inputs) } }
        let before = graph.nodes.count + graph.initializers.count
        graph.nodes.removeAll { $0.opType == "Constant" && $0.canonicalDomain == "ai.onnx" && $0.outputs.allSatisfy { !used.contains($0) } }
        let inputs = Set(graph.inputs.map(\.name))
        for i in graph.initializers where releasing && !used.contains(i.name) && !inputs.contains(i.name) && i.proto.hasRawData {
            FileBytes.releasePages(of: i.proto.rawData)  // a folded layer's old weights, still mapped from the file
        }
        graph.initializers.removeAll { !used.contains($0.name) && !inputs.contains($0.name) }
        return before - graph.nodes.count - graph.initializers.count
    }
}
