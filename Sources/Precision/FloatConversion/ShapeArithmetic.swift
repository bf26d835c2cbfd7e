import ONNX
import Tensors

/// Finds float32 arithmetic on integer values that feeds shapes, sizes or indices — `Shape → Cast →
/// Mul(2.0) → Cast(int64) → Resize sizes` in exported upsampling code. Float16 holds integers exactly
/// only up to 2048, so these nodes stay float32 (they are tiny; the cost is nil).
///
/// A value qualifies when it is integer-derived (a Cast from an integer type, carried forward through
/// plain arithmetic and reshaping) *and* shape-bound (it flows, through the same ops, into a Cast to an
/// integer type or into an input that must be float32, like Resize's scales).
enum ShapeArithmetic {
    /// Ops through which integer-valued data stays integer-valued "enough" to track.
    static let carriers: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Floor", "Ceil", "Round", "Neg", "Abs", "Max", "Min", "Mod", "Concat",
        "Gather", "Slice", "Squeeze", "Unsqueeze", "Reshape", "Identity", "Sqrt", "Cast", "Flatten",
        "ReduceMax", "ReduceMin", "Clip", "Reciprocal", "Expand", "Where",
    ]

    /// The nodes of `order` (the graph in dependency order) to keep in float32.
    static func nodes(in order: [Node], types: [String: DType], constants: Set<String>,
                      float32Only: (Node, Int) -> Bool) -> Set<ObjectIdentifier> {
        func isFloat32(_ v: String) -> Bool { !v.isEmpty && types[v] == .float32 }
        func isIntegerCast(_ node: Node) -> Bool {
            guard node.opType == "Cast", node.canonicalDomain == "ai.onnx", let input = node.inputs.first,
                  let from = types[input] else { return false }
            return (from.isInteger || from == .bool) && node.outputs.first.map(isFloat32) == true
        }
        func carries(_ node: Node) -> Bool { node.canonicalDomain == "ai.onnx" && carriers.contains(node.opType) }

        var derived = Set<String>()
        for node in order {
            if isIntegerCast(node) { derived.formUnion(node.outputs.filter(isFloat32)); continue }
            guard carries(node) else { continue }
            let floats = node.inputs.filter { isFloat32($0) && !constants.contains($0) }
            if !floats.isEmpty && floats.allSatisfy(derived.contains) { derived.formUnion(node.outputs.filter(isFloat32)) }
        }
        guard !derived.isEmpty else { return [] }

        var bound = Set<String>()
        for node in order where node.canonicalDomain == "ai.onnx" {
            for (i, input) in node.inputs.enumerated() where isFloat32(input) {
                let castsToInteger = node.opType == "Cast" && (node[attribute: "to"]?.int).flatMap { DType(rawValue: Int32($0)) }.map { $0.isInteger || $0 == .bool } == true
                if castsToInteger || float32Only(node, i) { bound.insert(input) }
            }
        }
        for node in order.reversed() where carries(node) || isIntegerCast(node) {
            guard node.outputs.contains(where: bound.contains) else { continue }
            for input in node.inputs where isFloat32(input) { bound.insert(input) }
        }
        var kept = Set<ObjectIdentifier>()
        for node in order where carries(node) || isIntegerCast(node) {
            if node.outputs.contains(where: { derived.contains($0) && bound.contains($0) }) { kept.insert(ObjectIdentifier(node)) }
        }
        return kept
    }
}
