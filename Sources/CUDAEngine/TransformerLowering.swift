import CUDA
import ONNX
import Tensors

/// What transformer encoders (MiniLM, ViT) need beyond convolutions: MatMul of two computed
/// tensors (attention's Q·Kᵀ and P·V) as one cuBLASLt strided batch (LayerNormalization is with
/// the other normalizations).
extension GraphLowering {
    /// A MatMul whose right operand is computed at run time, not a weight.
    func hasComputedRightOperand(_ node: Node) -> Bool {
        node.opType == "MatMul" && node.inputs.count > 1 && (device[node.inputs[1]] != nil || hostValues[node.inputs[1]] != nil)
    }

    /// The strided batch for operands of shapes `a` (…×m×k) and `b` (…×k×n): each operand is either
    /// one matrix shared by every product (stride 0) or one per product. Partial broadcasting
    /// (some batch axes shared, some not) has no single stride; nil then.
    static func matrixProductShape(_ a: [Int], _ b: [Int]) -> (MatrixProductShape, output: [Int])? {
        guard a.count >= 2, b.count >= 2, a[a.count - 1] == b[b.count - 2] else { return nil }
        let (m, k, n) = (a[a.count - 2], a[a.count - 1], b[b.count - 1])
        let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
        guard let batch = ShapeRules.broadcast([batchA, batchB]) else { return nil }
        let count = batch.reduce(1, *)
        func stride(_ dims: [Int], matrix: Int) -> Int? {
            if dims.reduce(1, *) == 1 { return 0 }
            let padded = [Int](repeating: 1, count: batch.count - dims.count) + dims
            return padded == batch ? matrix : nil
        }
        guard let sa = stride(batchA, matrix: m * k), let sb = stride(batchB, matrix: k * n) else { return nil }
        let output = batch + [m, n]
        // One weight-like matrix for every product: the batches are rows of one larger product.
        if sb == 0 && sa != 0 && count > 1 {
            return (MatrixProductShape(batch: 1, rows: count * m, columns: n, inner: k, strideA: 0, strideB: 0), output)
        }
        return (MatrixProductShape(batch: count, rows: m, columns: n, inner: k, strideA: count == 1 ? 0 : sa, strideB: count == 1 ? 0 : sb), output)
    }

    /// MatMul of two computed tensors (both made row-major).
    mutating func lowerComputedProduct(_ node: Node, names: [String]) throws(EngineError) {
        let a = try rowMajor(try tensor(node.inputs[0], for: node), nodes: names)
        let b = try rowMajor(try tensor(node.inputs[1], for: node), nodes: names)
        let sa = plan.tensors[a].shape, sb = plan.tensors[b].shape
        guard let (shape, output) = Self.matrixProductShape(sa, sb) else {
            throw .refusing(node, "operands \(sa) · \(sb) (both at least 2-D, each batch either shared or whole, are supported)")
        }
        let out = plan.add(PlannedTensor(name: node.outputs[0], shape: output))
        plan.append(.matrixProduct(MatrixProductStep(shape: shape, a: a, b: b, output: out)), nodes: [Self.name(node)])
        placed([node], "step \(plan.steps.count - 1)")
        device[node.outputs[0]] = out
    }
}
