import ONNX
import Tensors

/// Chains of elementwise nodes become one generated kernel: every operand is read once per output
/// element through its own strides (broadcasting is a stride of 0), the chain is evaluated in float
/// registers, and only the result is stored. A constant scalar becomes a literal in the source; a
/// larger constant an FP32 weight.
enum ElementwiseLowering {
    static let unary: [String: @Sendable (String) -> String] = [
        "Relu": { "fmaxf(\($0), 0.0f)" },
        "Sigmoid": { "(1.0f / (1.0f + __expf(-\($0))))" },
        "Tanh": { "tanhf(\($0))" },
        "Exp": { "__expf(\($0))" },
        "Log": { "__logf(\($0))" },
        "Sqrt": { "sqrtf(\($0))" },
        "Neg": { "(-\($0))" },
        "Abs": { "fabsf(\($0))" },
        "Erf": { "erff(\($0))" },
        "Reciprocal": { "(1.0f / \($0))" },
        "Floor": { "floorf(\($0))" },
        "Ceil": { "ceilf(\($0))" },
        "Softplus": { "log1pf(__expf(\($0)))" },
        "HardSwish": { "(\($0) * fminf(fmaxf(\($0) * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f))" },
        "Identity": { $0 }, "Dropout": { $0 },
        // A boolean as 1 or 0 in a float register: only inside a chain (a Where reads it).
        // By the bits (exponent all ones, mantissa not zero): fast-math may drop x != x.
        "IsNaN": { "((__float_as_uint(\($0)) & 0x7fffffffu) > 0x7f800000u ? 1.0f : 0.0f)" },
    ]
    /// Ops whose result is boolean: they end no chain (the engine stores floats only).
    static let boolean: Set<String> = ["IsNaN"]
    static let binary: [String: @Sendable (String, String) -> String] = [
        "Add": { "(\($0) + \($1))" }, "Sum": { "(\($0) + \($1))" }, "Sub": { "(\($0) - \($1))" }, "Mul": { "(\($0) * \($1))" }, "Div": { "(\($0) / \($1))" },
        "Max": { "fmaxf(\($0), \($1))" }, "Min": { "fminf(\($0), \($1))" }, "Pow": { "powf(\($0), \($1))" },
        "PRelu": { "(\($0) >= 0.0f ? \($0) : \($0) * \($1))" },
    ]
    static let parameterized: Set<String> = ["Clip", "LeakyRelu", "HardSigmoid", "Elu", "Selu", "Cast", "Gelu", "BatchNormalization", "Where"]

    static var operators: Set<String> { Set(unary.keys).union(binary.keys).union(parameterized) }

    static func isElementwise(_ node: Node) -> Bool {
        guard node.canonicalDomain == "ai.onnx" else { return false }
        if node.opType == "Dropout" { return node.outputs.count == 1 || node.outputs[1].isEmpty }
        if node.opType == "Max" || node.opType == "Min" || node.opType == "Sum" { return node.inputs.count == 2 }
        if node.opType == "Cast" {
            return (node[attribute: "to"]?.int).flatMap { DType(rawValue: Int32($0)) }.map { $0 == .float32 || $0 == .float16 } ?? false
        }
        return unary[node.opType] != nil || binary[node.opType] != nil || parameterized.contains(node.opType)
    }
}

extension OperatorTable {
    /// Every op with an elementwise form, one term of a fused kernel each. No check: `supports` takes
    /// them all, and a node with no elementwise form (a Cast to integers, a Max of three) is refused
    /// when planned.
    static let elementwise = ElementwiseLowering.operators.sorted().map { op in
        OperatorEntry(op, lower: { (lowering, node, index) throws(EngineError) in
            if ElementwiseLowering.isElementwise(node) { return try lowering.emitElementwise([index]) }
            // Dropout's mask output makes it no term; at inference its output is its input.
            guard node.opType == "Dropout" else { throw .refusing(node, "no kernel for this op") }
            try lowering.lowerView(node)
        })
    }
}

extension GraphLowering {
    /// Lowers a chain (one node or several) as one kernel.
    mutating func emitElementwise(_ chain: [Int]) throws(EngineError) {
        let nodes = chain.map { graph.nodes[$0] }
        if let last = nodes.last, ElementwiseLowering.boolean.contains(last.opType) {
            throw .refusing(last, "a boolean result outside a fused chain")
        }
        var operands: [KernelSource.Operand] = []
        var operandShapes: [[Int]] = []
        var tensorInputs: [Int] = []
        var weightInputs: [Int] = []
        var expressions: [String: String] = [:]  // value name → C expression (a temporary)
        var operandOf: [String: String] = [:]
        var body: [String] = []
        var pending: [(String, [Int], Operand)] = []
        enum Operand { case tensor(Int), weight(Int, [Int]), literal(Float) }

        // Operands first: every input read from outside the chain, once each.
        let produced = Set(nodes.flatMap(\.outputs))
        for node in nodes {
            for (slot, name) in node.inputs.enumerated() where !name.isEmpty && !produced.contains(name) && operandOf[name] == nil {
                if Self.isParameter(node, slot) { continue }
                if device[name] != nil || hostValues[name] != nil {
                    let t = try deviceTensor(name, for: node)
                    pending.append((name, plan.tensors[t].shape, .tensor(t)))
                } else if let v = try hostValue(name) {
                    if v.numbers.count == 1 {
                        pending.append((name, v.shape, .literal(Float(v.numbers[0]))))
                    } else {
                        let w = plan.add(PlannedWeight(name: name, float32: v.numbers.map(Float.init)))
                        pending.append((name, v.shape, .weight(w, v.shape)))
                    }
                } else {
                    throw .refusing(node, "input '\(name)' is not computed")
                }
                operandOf[name] = "v\(pending.count - 1)"
            }
        }
        // BatchNormalization (its statistics not folded into a convolution): per-channel scale and
        // shift, computed here in float64, as two FP32 operands.
        var batchNorms: [String: (String, String)] = [:]
        for node in nodes where node.opType == "BatchNormalization" {
            var stats: [[Double]] = []
            for slot in 1...4 {
                guard slot < node.inputs.count, let v = try hostValue(node.inputs[slot]) else {
                    throw .refusing(node, "statistics computed at run time")
                }
                stats.append(v.numbers)
            }
            let channels = stats[0].count
            guard stats.allSatisfy({ $0.count == channels }) else { throw EngineError.badInput("\(node.label): statistics of different lengths") }
            let epsilon = Double(node[attribute: "epsilon"]?.float ?? 1e-5)
            let scale = (0..<channels).map { stats[0][$0] / (stats[3][$0] + epsilon).squareRoot() }
            let shift = (0..<channels).map { stats[1][$0] - stats[2][$0] * scale[$0] }
            let rank = pending.compactMap { if case .tensor(let t) = $0.2 { plan.tensors[t].shape.count } else { nil } }.max() ?? 4
            let shape = [channels] + [Int](repeating: 1, count: max(rank - 2, 0))
            let s = plan.add(PlannedWeight(name: Self.name(node) + ":scale", float32: scale.map(Float.init)))
            pending.append((Self.name(node) + ":scale", shape, .weight(s, shape)))
            let t = plan.add(PlannedWeight(name: Self.name(node) + ":shift", float32: shift.map(Float.init)))
            pending.append((Self.name(node) + ":shift", shape, .weight(t, shape)))
            batchNorms[node.outputs[0]] = ("v\(pending.count - 2)", "v\(pending.count - 1)")
        }
        // The output shape: every operand broadcast together (intermediates broadcast into it).
        guard let shape = ShapeRules.broadcast(pending.map(\.1)), !pending.isEmpty else {
            throw .refusing(nodes.last!, "operand shapes \(pending.map(\.1)) do not broadcast")
        }
        let anyNHWC = pending.contains { if case .tensor(let t) = $0.2 { plan.tensors[t].layout == .nhwc } else { false } }
        let out = plan.add(PlannedTensor(name: nodes.last!.outputs[0], shape: shape, layout: shape.count == 4 && anyNHWC ? .nhwc : .rowMajor))
        for (_, s, operand) in pending {
            operandShapes.append(s)
            switch operand {
            case .tensor(let t):
                operands.append(.tensor(strides: broadcastStrides(plan.tensors[t].strides, of: plan.tensors[t].shape, to: shape), half: plan.tensors[t].dtype == .float16))
                tensorInputs.append(t)
            case .weight(let w, let wShape):
                operands.append(.tensor(strides: broadcastStrides(PlannedTensor(name: "", shape: wShape).strides, of: wShape, to: shape), half: false))
                weightInputs.append(w)
            case .literal(let value):
                operands.append(.literal(value))
            }
        }
        for (name, v) in operandOf { expressions[name] = v }
        for (k, node) in nodes.enumerated() {
            let args = try node.inputs.enumerated().map { (slot, name) throws(EngineError) -> String in
                if name.isEmpty || Self.isParameter(node, slot) { return "" }
                guard let e = expressions[name] else { throw EngineError.internal("no value for '\(name)' in \(node.label)") }
                return e
            }
            let expression: String
            if let (scale, shift) = batchNorms[node.outputs[0]] { expression = "(\(args[0]) * \(scale) + \(shift))" } else { expression = try self.expression(for: node, args) }
            body.append("const float t\(k) = \(expression);")
            expressions[node.outputs[0]] = "t\(k)"
        }
        let function = functionName()
        // The arena and the weights are both laid out at 256-byte offsets: 16-byte vectors line up.
        let kernel = KernelSource.elementwiseKernel(function: function, shape: shape, outStrides: plan.tensors[out].strides, operands: operands, body: body,
                                                    result: "t\(nodes.count - 1)", vectorizable: true)
        plan.append(.generated(GeneratedStep(kind: nodes.count == 1 ? "elementwise" : "elementwise ×\(nodes.count)", function: function, source: kernel.source,
                                             output: out, inputs: tensorInputs, weights: weightInputs, threads: kernel.threads)),
                    nodes: nodes.map(Self.name))
        placed(nodes, "step \(plan.steps.count - 1)")
        device[nodes.last!.outputs[0]] = out
    }

    /// Inputs that are parameters compiled into the expression (Clip's bounds, BatchNorm's statistics).
    static func isParameter(_ node: Node, _ slot: Int) -> Bool {
        switch node.opType {
        case "Clip": slot > 0
        case "Dropout": slot > 0
        case "BatchNormalization": slot > 0
        default: false
        }
    }

    /// The C expression of one node over its operands' expressions.
    mutating func expression(for node: Node, _ args: [String]) throws(EngineError) -> String {
        if let f = ElementwiseLowering.unary[node.opType] { return f(args[0]) }
        if let f = ElementwiseLowering.binary[node.opType] {
            if node.opType == "Pow", let e = try hostValue(node.inputs[1]), e.numbers.count == 1, e.numbers[0] == 2 { return "(\(args[0]) * \(args[0]))" }
            return f(args[0], args[1])
        }
        func float(_ name: String, _ fallback: Float) -> Float { node[attribute: name]?.float ?? fallback }
        let x = args[0]
        switch node.opType {
        case "Cast": return x
        case "Where": return "(\(args[0]) != 0.0f ? \(args[1]) : \(args[2]))"
        case "Clip":
            let (low, high) = try clipBounds(node)
            var e = x
            if let low { e = "fmaxf(\(e), \(KernelSource.literal(low)))" }
            if let high { e = "fminf(\(e), \(KernelSource.literal(high)))" }
            return e
        case "LeakyRelu": return "(\(x) >= 0.0f ? \(x) : \(x) * \(KernelSource.literal(float("alpha", 0.01))))"
        case "HardSigmoid":
            return "fminf(fmaxf(\(x) * \(KernelSource.literal(float("alpha", 0.2))) + \(KernelSource.literal(float("beta", 0.5))), 0.0f), 1.0f)"
        case "Elu": return "(\(x) >= 0.0f ? \(x) : \(KernelSource.literal(float("alpha", 1))) * (__expf(\(x)) - 1.0f))"
        case "Selu":
            let a = KernelSource.literal(float("alpha", 1.67326319217681884765625)), g = KernelSource.literal(float("gamma", 1.05070102214813232421875))
            return "(\(g) * (\(x) > 0.0f ? \(x) : \(a) * (__expf(\(x)) - 1.0f)))"
        case "Gelu":
            if node[attribute: "approximate"]?.string == "tanh" {
                return "(0.5f * \(x) * (1.0f + tanhf(0.7978845608f * (\(x) + 0.044715f * \(x) * \(x) * \(x)))))"
            }
            return "(0.5f * \(x) * (1.0f + erff(\(x) * 0.7071067811865475f)))"
        default:
            throw .refusing(node, "no elementwise form")
        }
    }

    /// Strides of a `shape` tensor stored with `strides`, read as `target` (NumPy broadcasting).
    func broadcastStrides(_ strides: [Int], of shape: [Int], to target: [Int]) -> [Int] {
        var out = [Int](repeating: 0, count: target.count)
        for (k, d) in shape.enumerated() {
            let axis = target.count - shape.count + k
            out[axis] = d == 1 && target[axis] != 1 ? 0 : strides[k]
        }
        return out
    }
}
