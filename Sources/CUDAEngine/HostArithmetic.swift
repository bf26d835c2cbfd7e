import ONNX
import Tensors

/// Elementwise arithmetic and slicing of values known at load time, with NumPy broadcasting and
/// any rank: shape arithmetic (Max of index grids, comparisons) and dequantized weights
/// (int8 · per-row scale), which the engine must not recompute on every run.
extension HostFolding {
    static let arithmetic: Set<String> = ["Add", "Sub", "Mul", "Div", "Equal", "Max", "Min", "Where", "And", "Or", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"]

    /// For each element of `target` (row-major), the index of the element of `shape` that NumPy
    /// broadcasting reads.
    static func broadcastSources(_ shape: [Int], to target: [Int]) -> [Int] {
        let total = target.reduce(1, *), count = shape.reduce(1, *)
        if count == total { return Array(0..<total) }
        if count == 1 { return [Int](repeating: 0, count: total) }
        let rank = target.count
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        var strides = [Int](repeating: 0, count: rank), s = 1
        for a in stride(from: rank - 1, through: 0, by: -1) {
            strides[a] = padded[a] == 1 ? 0 : s
            s *= padded[a]
        }
        var out = [Int](repeating: 0, count: total), index = [Int](repeating: 0, count: rank), at = 0
        for i in 0..<total {
            out[i] = at
            var a = rank - 1
            while a >= 0 {
                index[a] += 1
                at += strides[a]
                if index[a] < target[a] { break }
                at -= strides[a] * target[a]
                index[a] = 0
                a -= 1
            }
        }
        return out
    }

    /// A broadcasting elementwise op over known values; nil when the shapes do not broadcast. The op
    /// is chosen once and operands of the output's size are read in place: a dequantized embedding
    /// table is 12 M elements.
    static func arithmetic(_ node: Node, _ operands: [Value]) throws(EngineError) -> Value? {
        guard operands.count == (node.opType == "Where" ? 3 : 2), let shape = ShapeRules.broadcast(operands.map(\.shape)) else { return nil }
        let count = shape.reduce(1, *)
        let sources = operands.map { v -> [Int]? in v.numbers.count == count || v.numbers.count == 1 ? nil : broadcastSources(v.shape, to: shape) }
        func at(_ k: Int, _ i: Int) -> Double {
            let v = operands[k].numbers
            return v[sources[k]?[i] ?? (v.count == 1 ? 0 : i)]
        }
        let integer = operands[0].dtype.isInteger
        let f: ((Double, Double) -> Double)?  // nil for Where, which picks between its last two
        switch node.opType {
        case "Where": f = nil
        case "Add": f = { $0 + $1 }
        case "Sub": f = { $0 - $1 }
        case "Mul": f = { $0 * $1 }
        case "Div": f = integer ? { ($0 / $1).rounded(.towardZero) } : { $0 / $1 }
        case "Max": f = { max($0, $1) }
        case "Min": f = { min($0, $1) }
        case "Equal": f = { $0 == $1 ? 1 : 0 }
        case "And": f = { $0 != 0 && $1 != 0 ? 1 : 0 }
        case "Or": f = { $0 != 0 || $1 != 0 ? 1 : 0 }
        case "Greater": f = { $0 > $1 ? 1 : 0 }
        case "GreaterOrEqual": f = { $0 >= $1 ? 1 : 0 }
        case "Less": f = { $0 < $1 ? 1 : 0 }
        case "LessOrEqual": f = { $0 <= $1 ? 1 : 0 }
        default: return nil
        }
        var out = [Double](repeating: 0, count: count)
        if let f {
            for i in 0..<count { out[i] = f(at(0, i), at(1, i)) }
        } else {
            for i in 0..<count { out[i] = at(0, i) != 0 ? at(1, i) : at(2, i) }
        }
        let dtype: DType = switch node.opType {
        case "Where": operands[1].dtype
        case "Equal", "And", "Or", "Greater", "GreaterOrEqual", "Less", "LessOrEqual": .bool
        default: operands[0].dtype
        }
        return Value(shape: shape, numbers: out, dtype: dtype)
    }

    /// Slice of any rank with constant starts, ends, axes and steps (ONNX's clamping rules).
    static func slice(_ node: Node, _ v: Value, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws(EngineError) -> Value {
        let rank = v.shape.count
        let axes = (axes ?? Array(0..<starts.count)).map { $0 < 0 ? $0 + rank : $0 }
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard axes.count == starts.count, ends.count == starts.count, steps.count == starts.count, axes.allSatisfy({ $0 >= 0 && $0 < rank }) else {
            throw EngineError.badInput("\(node.label): starts, ends, axes and steps of different lengths or axes out of range")
        }
        var first = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank), shape = v.shape
        for (k, a) in axes.enumerated() {
            let n = v.shape[a], st = steps[k]
            guard st != 0 else { throw EngineError.badInput("\(node.label): step 0") }
            (first[a], shape[a]) = ShapeRules.slice(n: n, start: starts[k], end: ends[k], step: st)
            step[a] = st
        }
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * v.shape[a + 1] }
        let count = shape.reduce(1, *)
        var out: [Double] = []
        out.reserveCapacity(count)
        var index = [Int](repeating: 0, count: rank)
        for _ in 0..<count {
            var at = 0
            for a in 0..<rank { at += (first[a] + index[a] * step[a]) * strides[a] }
            out.append(v.numbers[at])
            var a = rank - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < shape[a] { break }
                index[a] = 0
                a -= 1
            }
        }
        return Value(shape: shape, numbers: out, dtype: v.dtype)
    }

    /// Concat of known values of any rank; nil when the shapes do not fit.
    static func concatenate(_ node: Node, _ values: [Value]) -> Value? {
        guard let first = values.first else { return nil }
        let rank = first.shape.count
        var axis = node[attribute: "axis"]?.int ?? 0
        if axis < 0 { axis += rank }
        guard axis >= 0, axis < rank, values.allSatisfy({ v in v.shape.count == rank && (0..<rank).allSatisfy { $0 == axis || v.shape[$0] == first.shape[$0] } }) else { return nil }
        let outer = first.shape[..<axis].reduce(1, *)
        var numbers: [Double] = []
        for o in 0..<outer {
            for v in values {
                let block = v.shape[axis...].reduce(1, *)
                numbers += v.numbers[(o * block)..<((o + 1) * block)]
            }
        }
        var shape = first.shape
        shape[axis] = values.reduce(0) { $0 + $1.shape[axis] }
        return Value(shape: shape, numbers: numbers, dtype: first.dtype)
    }
}
