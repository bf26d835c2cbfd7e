import FoundationEssentials
import ONNX

/// Both models re-serialized with every intermediate value they share by name added as an output.
public struct ExposedTensors {
    public struct Tensor: Encodable, Equatable, Sendable {
        public var name: String
        public var op: String?
        public init(name: String, op: String?) {
            self.name = name
            self.op = op
        }
    }

    public var reference: Data
    public var candidate: Data
    /// Values in A's graph order (node by node), original outputs included.
    public var order: [Tensor] = []
    /// A's declared outputs (what decides the verdict).
    public var declaredOutputs: Set<String> = []
    /// Names added as outputs.
    public var exposed: Set<String> = []

    public init(reference: String, candidate: String) throws {
        let a = try Model.load(contentsOf: reference), b = try Model.load(contentsOf: candidate)
        declaredOutputs = Set(a.graph.outputs.map(\.name))
        let outputsB = Set(b.graph.outputs.map(\.name))
        // Element types come from inference; a value neither rule nor declaration types is skipped,
        // since ORT rejects an output without an element type.
        let typesA = TypeInference(a).types(in: a.graph), typesB = TypeInference(b).types(in: b.graph)
        var producedB: Set<String> = []
        for node in b.graph.nodes { producedB.formUnion(node.outputs.filter { !$0.isEmpty }) }
        for node in a.graph.nodes {
            for name in node.outputs where !name.isEmpty && (producedB.contains(name) || outputsB.contains(name)) {
                if declaredOutputs.contains(name) {
                    order.append(Tensor(name: name, op: node.opType))
                    continue
                }
                guard let typeA = typesA[name], let typeB = typesB[name], typeA.isComputable, typeB.isComputable else { continue }
                a.graph.outputs.append(ValueInfo(name: name, elementType: typeA, shape: nil))
                if !outputsB.contains(name) { b.graph.outputs.append(ValueInfo(name: name, elementType: typeB, shape: nil)) }
                order.append(Tensor(name: name, op: node.opType))
                exposed.insert(name)
            }
        }
        // Declared outputs no node produces (a graph input passed through) go last.
        for output in a.graph.outputs where declaredOutputs.contains(output.name) && !order.contains(where: { $0.name == output.name }) {
            order.append(Tensor(name: output.name, op: nil))
        }
        self.reference = try a.serialized()
        self.candidate = try b.serialized()
    }
}
