import ONNX
import Tensors

/// A BatchNormalization that no convolution absorbs (after a Concat or an input, as in DenseNet)
/// becomes Mul and Add by per-channel constants, computed in float64: two elementwise nodes the
/// engine fuses with whatever follows.
enum StandaloneBatchNorm {
    static func rewrite(_ graph: Graph) throws(EngineError) {
        let weights = Dictionary(graph.initializers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var names = Set(graph.initializers.map(\.name))
        var nodes: [Node] = []
        for node in graph.nodes {
            guard node.opType == "BatchNormalization", node.canonicalDomain == "ai.onnx", node.inputs.count == 5,
                  node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty),
                  let stats = try? node.inputs[1...4].map({ name -> [Float] in
                      guard let w = weights[name] else { throw EngineError.badInput("") }
                      return try w.tensor().floatValues()
                  }), Set(stats.map(\.count)).count == 1, let channels = stats.first?.count
            else { nodes.append(node); continue }
            let epsilon = Double(node[attribute: "epsilon"]?.float ?? 1e-5)
            let scale = (0..<channels).map { Double(stats[0][$0]) / (Double(stats[3][$0]) + epsilon).squareRoot() }
            let shift = (0..<channels).map { Double(stats[1][$0]) - Double(stats[2][$0]) * scale[$0] }
            let rank = graph.declaredValue(named: node.inputs[0])?.shape?.count ?? 4
            let shape = [channels] + [Int](repeating: 1, count: max(rank - 2, 0))
            func unique(_ base: String) -> String {
                var name = base, k = 1
                while names.contains(name) { name = "\(base)_\(k)"; k += 1 }
                names.insert(name)
                return name
            }
            let base = node.name.isEmpty ? node.outputs[0] : node.name
            let scaleName = unique(base + ":scale"), shiftName = unique(base + ":shift"), scaled = unique(base + ":scaled")
            do {
                graph.initializers.append(Initializer(name: scaleName, tensor: try Tensor(shape: try Shape(shape), elements: scale.map(Float.init))))
                graph.initializers.append(Initializer(name: shiftName, tensor: try Tensor(shape: try Shape(shape), elements: shift.map(Float.init))))
            } catch { throw EngineError.badInput("\(node.label): \(error)") }
            nodes.append(Node(opType: "Mul", name: base + ":mul", inputs: [node.inputs[0], scaleName], outputs: [scaled]))
            nodes.append(Node(opType: "Add", name: base + ":add", inputs: [scaled, shiftName], outputs: [node.outputs[0]]))
        }
        graph.nodes = nodes
    }
}
