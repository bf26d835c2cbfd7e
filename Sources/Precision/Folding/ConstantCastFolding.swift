import ONNX
import Tensors

/// Replaces `Cast` nodes whose input is a constant by a constant of the cast type, before any
/// conversion: a float64 or integer constant cast to float32 then becomes an ordinary float32
/// constant that the conversion narrows (and clamps, and reports) like any other, instead of a
/// run-time Cast into float32 that the conversion would have to rewrite.
enum ConstantCastFolding {
    /// Folds in every graph of `model`; returns how many Casts were folded.
    static func apply(to model: Model) -> Int {
        model.allGraphs.reduce(0) { $0 + fold($1) }
    }

    private static let foldable: Set<DType> = [.float32, .float64, .float16, .int32, .int64, .int16, .int8, .uint8, .uint16]

    private static func fold(_ graph: Graph) -> Int {
        let inputs = Set(graph.inputs.map(\.name))
        let outputs = Set(graph.outputs.map(\.name))
        var initializerIndex: [String: Int] = [:]
        for (i, initializer) in graph.initializers.enumerated() where !inputs.contains(initializer.name) { initializerIndex[initializer.name] = i }
        var constantNodes: [String: Onnx_TensorProto] = [:]
        for node in graph.nodes where node.opType == "Constant" && node.canonicalDomain == "ai.onnx" {
            if let t = node[attribute: "value"]?.tensor, let out = node.outputs.first { constantNodes[out] = t }
        }
        var folded = 0
        for node in graph.nodes where node.opType == "Cast" && node.canonicalDomain == "ai.onnx" {
            guard let input = node.inputs.first, let output = node.outputs.first, !outputs.contains(output),
                  let to = node[attribute: "to"]?.int.flatMap({ DType(rawValue: Int32($0)) }), to.isFloatingPoint, foldable.contains(to),
                  let proto = initializerIndex[input].map({ graph.initializers[$0].proto }) ?? constantNodes[input],
                  let from = DType(rawValue: proto.dataType), foldable.contains(from), proto.dataLocation != .external,
                  // Never grow the model: int8 weights cast to float32 stay int8 (the Cast is rewritten instead).
                  (to.byteCount(elements: 1) ?? 8) <= (from.byteCount(elements: 1) ?? 0),
                  let tensor = try? TensorCodec.decode(proto), let cast = try? tensor.converted(to: to) else { continue }
            // The Cast node becomes a Constant of the same output name: consumers and order are untouched.
            node.opType = "Constant"
            node.inputs = []
            node.attributes = [.tensor("value", TensorCodec.encode(cast, name: output))]
            folded += 1
        }
        return folded
    }
}
