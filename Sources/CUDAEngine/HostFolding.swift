import ONNX
import Tensors

/// Evaluates, on the host, the nodes whose inputs are all known at load time: Constant nodes,
/// `Shape` of a planned tensor, and the small integer arithmetic exporters put between them and a
/// Reshape or Resize. With the input shapes fixed, these subgraphs are constants; they never reach
/// the GPU.
enum HostFolding {
    static let foldable: Set<String> = [
        "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Identity", "Add", "Sub", "Mul", "Div",
        "Reshape", "ConstantOfShape", "Range", "Floor", "Ceil", "Sqrt", "Neg", "Equal", "Where", "Expand", "Flatten", "ReduceProd",
        "Max", "Min", "And", "Or", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    ]

    /// A known value: int64 or float numbers with a shape (what shape subgraphs carry).
    struct Value {
        var shape: [Int]
        var numbers: [Double]
        var dtype: DType

        init(shape: [Int], numbers: [Double], dtype: DType) {
            self.shape = shape; self.numbers = numbers; self.dtype = dtype
        }

        init(_ tensor: Tensor) throws(EngineError) {
            shape = tensor.shape.dimensions
            dtype = tensor.dtype
            do {
                switch tensor.dtype {
                case .int64: numbers = try tensor.elements(as: Int64.self).map(Double.init)
                case .int32: numbers = try tensor.elements(as: Int32.self).map(Double.init)
                case .bool: numbers = try tensor.elements(as: Bool.self).map { $0 ? 1 : 0 }
                case .float32, .float16, .float64, .bfloat16: numbers = try tensor.floatValues().map(Double.init)
                case .int8: numbers = try tensor.elements(as: Int8.self).map(Double.init)
                case .uint8: numbers = try tensor.elements(as: UInt8.self).map(Double.init)
                default: throw EngineError.badInput("a constant of type \(tensor.dtype.name) in a shape computation")
                }
            } catch let error as EngineError { throw error } catch { throw EngineError.badInput("reading a constant: \(error)") }
        }

        /// The numbers as integers, clamped to Int's range (exporters write INT64_MAX for "to the end").
        var ints: [Int] { numbers.map { $0 >= 9.2e18 ? Int.max : $0 <= -9.2e18 ? Int.min : Int($0) } }

        func tensor() throws(EngineError) -> Tensor {
            do {
                let shape = try Shape(self.shape)
                switch dtype {
                case .int64: return try Tensor(shape: shape, elements: numbers.map { Int64($0) })
                case .int32: return try Tensor(shape: shape, elements: numbers.map { Int32($0) })
                case .bool: return try Tensor(shape: shape, elements: numbers.map { $0 != 0 })
                default: return try Tensor(shape: shape, elements: numbers.map { Float($0) })
                }
            } catch { throw EngineError.badInput("building a constant: \(error)") }
        }
    }

    /// The node's outputs, or nil when the op is not one this folds. `shapeOf` gives a planned
    /// tensor's logical shape (for `Shape`).
    static func evaluate(_ node: Node, inputs: [Value?], shapeOf: (String) -> [Int]?) throws(EngineError) -> [Value]? {
        func input(_ i: Int) throws(EngineError) -> Value {
            guard i < inputs.count, let v = inputs[i] else { throw EngineError.badInput("\(node.label): input \(i) is not known at load time") }
            return v
        }
        func int(_ name: String, _ fallback: Int) -> Int { node[attribute: name]?.int ?? fallback }
        switch node.opType {
        case "Constant":
            guard let a = node.attributes.first else { throw EngineError.badInput("\(node.label) has no value") }
            if let t = a.tensor {
                do { return [try Value(try TensorCodec.decode(t))] } catch let e as EngineError { throw e } catch { throw EngineError.badInput("\(node.label): \(error)") }
            }
            if let f = a.float { return [Value(shape: [], numbers: [Double(f)], dtype: .float32)] }
            if let i = a.int { return [Value(shape: [], numbers: [Double(i)], dtype: .int64)] }
            if !a.ints.isEmpty { return [Value(shape: [a.ints.count], numbers: a.ints.map(Double.init), dtype: .int64)] }
            if !a.floats.isEmpty { return [Value(shape: [a.floats.count], numbers: a.floats.map(Double.init), dtype: .float32)] }
            return nil
        case "Shape":
            guard let dims = shapeOf(node.inputs[0]) ?? inputs.first??.shape else { return nil }
            let r = dims.count
            func axis(_ a: Int) -> Int { min(max(a < 0 ? a + r : a, 0), r) }
            let part = Array(dims[axis(int("start", 0))..<max(axis(int("start", 0)), axis(int("end", r)))])
            return [Value(shape: [part.count], numbers: part.map(Double.init), dtype: .int64)]
        case "Identity", "Cast":
            var v = try input(0)
            if node.opType == "Cast", let to = node[attribute: "to"]?.int, let t = DType(rawValue: Int32(to)) {
                v.dtype = t
                if t.isInteger { v.numbers = v.numbers.map { $0.rounded(.towardZero) } }
            }
            return [v]
        case "Gather":
            let data = try input(0), indices = try input(1)
            guard data.shape.count == 1 || int("axis", 0) == 0 else { return nil }
            let rowLength = data.shape.dropFirst().reduce(1, *), rows = data.shape.first ?? 1
            var out: [Double] = []
            for i in indices.ints {
                let row = i < 0 ? i + rows : i
                guard row >= 0, row < rows else { throw EngineError.badInput("\(node.label): index \(i) out of range") }
                out += data.numbers[(row * rowLength)..<((row + 1) * rowLength)]
            }
            return [Value(shape: indices.shape + data.shape.dropFirst(), numbers: out, dtype: data.dtype)]
        case "Unsqueeze", "Squeeze":
            let v = try input(0)
            let axes = node.inputs.count > 1 ? try input(1).ints : (node[attribute: "axes"]?.ints ?? [])
            var shape = v.shape
            if node.opType == "Unsqueeze" {
                let r = shape.count + axes.count
                for a in axes.map({ $0 < 0 ? $0 + r : $0 }).sorted() { shape.insert(1, at: a) }
            } else {
                let r = shape.count
                let drop = axes.isEmpty ? Set(shape.indices.filter { shape[$0] == 1 }) : Set(axes.map { $0 < 0 ? $0 + r : $0 })
                shape = shape.indices.filter { !drop.contains($0) }.map { shape[$0] }
            }
            return [Value(shape: shape, numbers: v.numbers, dtype: v.dtype)]
        case "Concat":
            var values: [Value] = []
            for i in node.inputs.indices { values.append(try input(i)) }
            guard values.allSatisfy({ $0.shape.count <= 1 }) else { return concatenate(node, values).map { [$0] } }
            let numbers = values.flatMap(\.numbers)
            return [Value(shape: [numbers.count], numbers: numbers, dtype: values.first?.dtype ?? .int64)]
        case "Slice":
            let v = try input(0)
            func constant(_ slot: Int, _ attribute: String) throws(EngineError) -> [Int]? {
                if slot < node.inputs.count, !node.inputs[slot].isEmpty { return try input(slot).ints }
                return node[attribute: attribute]?.ints
            }
            return [try slice(node, v, starts: try constant(1, "starts") ?? [], ends: try constant(2, "ends") ?? [],
                              axes: try constant(3, "axes"), steps: try constant(4, "steps"))]
        case _ where arithmetic.contains(node.opType):
            var operands: [Value] = []
            for i in node.inputs.indices { operands.append(try input(i)) }
            return try arithmetic(node, operands).map { [$0] }
        case "Floor", "Ceil", "Sqrt", "Neg":
            var v = try input(0)
            v.numbers = v.numbers.map { x in
                switch node.opType {
                case "Floor": x.rounded(.down)
                case "Ceil": x.rounded(.up)
                case "Sqrt": x.squareRoot()
                default: -x
                }
            }
            return [v]
        case "ReduceProd":
            let v = try input(0)
            guard v.shape.count <= 1 else { return nil }
            return [Value(shape: int("keepdims", 1) == 1 ? [1] : [], numbers: [v.numbers.reduce(1, *)], dtype: v.dtype)]
        case "Reshape", "Flatten", "Expand", "ConstantOfShape", "Range":
            return try reshaping(node, inputs: inputs)
        default:
            return nil
        }
    }

    private static func reshaping(_ node: Node, inputs: [Value?]) throws(EngineError) -> [Value]? {
        func input(_ i: Int) throws(EngineError) -> Value {
            guard i < inputs.count, let v = inputs[i] else { throw EngineError.badInput("\(node.label): input \(i) is not known at load time") }
            return v
        }
        switch node.opType {
        case "Reshape":
            var v = try input(0)
            v.shape = try ShapeRules.reshape(v.shape, to: try input(1).ints, allowZero: node[attribute: "allowzero"]?.int == 1, node: node)
            return [v]
        case "Flatten":
            var v = try input(0)
            v.shape = ShapeRules.flatten(v.shape, axis: node[attribute: "axis"]?.int ?? 1)
            return [v]
        case "Expand":
            let v = try input(0), shape = try input(1).ints
            guard let out = ShapeRules.broadcast([v.shape, shape]) else { throw EngineError.badInput("\(node.label): cannot expand \(v.shape) to \(shape)") }
            return [Value(shape: out, numbers: broadcastSources(v.shape, to: out).map { v.numbers[$0] }, dtype: v.dtype)]
        case "ConstantOfShape":
            let shape = try input(0).ints
            var fill = Value(shape: [], numbers: [0], dtype: .float32)
            if let t = node[attribute: "value"]?.tensor {
                do { fill = try Value(try TensorCodec.decode(t)) } catch let e as EngineError { throw e } catch { throw EngineError.badInput("\(node.label): \(error)") }
            }
            return [Value(shape: shape, numbers: Array(repeating: fill.numbers.first ?? 0, count: shape.reduce(1, *)), dtype: fill.dtype)]
        default:  // Range
            let start = try input(0), limit = try input(1), delta = try input(2)
            let s = start.numbers[0], l = limit.numbers[0], d = delta.numbers[0]
            guard d != 0 else { throw EngineError.badInput("\(node.label): delta 0") }
            let count = max(Int(((l - s) / d).rounded(.up)), 0)
            return [Value(shape: [count], numbers: (0..<count).map { s + Double($0) * d }, dtype: start.dtype)]
        }
    }
}

/// Output shapes of the shape-changing ops, shared by host folding and lowering.
enum ShapeRules {
    static func reshape(_ shape: [Int], to target: [Int], allowZero: Bool, node: Node) throws(EngineError) -> [Int] {
        var out = target.enumerated().map { i, d in d == 0 && !allowZero && i < shape.count ? shape[i] : d }
        let total = shape.reduce(1, *)
        if let unknown = out.firstIndex(of: -1) {
            let known = out.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            guard known > 0, total % known == 0 else { throw EngineError.badInput("\(node.label): cannot reshape \(shape) to \(target)") }
            out[unknown] = total / known
        }
        guard out.reduce(1, *) == total, out.allSatisfy({ $0 >= 0 }) else { throw EngineError.badInput("\(node.label): cannot reshape \(shape) to \(target)") }
        return out
    }

    /// One axis of a Slice: where it starts and how many elements it keeps, after ONNX's clamping
    /// of `start` and `end` (negative counts from the end) to an axis of `n` elements.
    static func slice(n: Int, start: Int, end: Int, step: Int) -> (first: Int, count: Int) {
        var b = start < 0 ? start + n : start, e = end < 0 ? end + n : end
        if step > 0 { b = min(max(b, 0), n); e = min(max(e, 0), n) } else { b = min(max(b, -1), n - 1); e = min(max(e, -1), n - 1) }
        return (b, step > 0 ? max((e - b + step - 1) / step, 0) : max((b - e - step - 1) / -step, 0))
    }

    static func flatten(_ shape: [Int], axis: Int) -> [Int] {
        let a = axis < 0 ? axis + shape.count : axis
        return [shape[..<a].reduce(1, *), shape[a...].reduce(1, *)]
    }

    /// NumPy broadcasting of shapes; nil when they do not broadcast.
    static func broadcast(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for shape in shapes {
            for (k, d) in shape.enumerated() {
                let axis = rank - shape.count + k
                if out[axis] == 1 { out[axis] = d } else if d != 1 && d != out[axis] { return nil }
            }
        }
        return out
    }
}
