import Tensors

/// Where a model's constants do not survive a cast to float16: values beyond ±65504 (they become
/// ±Inf), tiny non-zeros below 6.0e-8 (they flush to zero), and integer-valued float constants
/// above 2048 (float16 has 11 significant bits, so not every such integer exists).
public struct FP16Risks: Codable, Sendable {
    public struct TensorRisk: Codable, Sendable {
        public var tensor: String
        public var elementType: String
        /// Ops that consume the tensor.
        public var consumers: [String]
        public var count: Int
        public var largestAbs: Double
    }
    /// An integer-to-float Cast feeding arithmetic: values above 2048 lose exactness in float16.
    public struct IntegerCast: Codable, Sendable {
        public var node: String
        public var from: String
        public var consumers: [String]
    }

    public static let float16Max = 65504.0
    public static let tinyThreshold = 6.0e-8
    public static let exactIntegerLimit = 2048.0

    /// Tensors with values beyond ±65504.
    public var overflow: [TensorRisk] = []
    /// Tensors with non-zero values below 6.0e-8 in magnitude.
    public var underflow: [TensorRisk] = []
    /// Integer-valued float tensors holding integers in (2048, 65504] that float16 cannot hold exactly
    /// (larger ones are already overflow).
    public var inexactIntegers: [TensorRisk] = []
    public var integerCasts: [IntegerCast] = []
    /// Largest |x| over all float constants.
    public var largestAbs: Double = 0

    public var isEmpty: Bool { overflow.isEmpty && underflow.isEmpty && inexactIntegers.isEmpty && integerCasts.isEmpty }

    init(model: Model, constants: [ConstantTensor]) throws(ONNXError) {
        for constant in constants {
            guard let dtype = constant.dtype, dtype == .float32 || dtype == .float64 else { continue }
            let tensor = try TensorCodec.decode(constant.proto)
            var stats = ValueStatistics()
            // Scan the buffer in place: a copy per weight tensor would double peak memory.
            if dtype == .float64 {
                tensor.withUnsafeBufferPointer(as: Double.self) { for v in $0 { stats.add(v) } }
            } else {
                tensor.withUnsafeBufferPointer(as: Float.self) { for v in $0 { stats.add(Double(v)) } }
            }
            let (over, under, inexact, allIntegers, maxAbs, maxInexact) =
                (stats.overflow, stats.underflow, stats.inexact, stats.allIntegers, stats.maxAbs, stats.maxInexact)
            largestAbs = max(largestAbs, maxAbs)
            let make = { (count: Int, largest: Double) in
                TensorRisk(tensor: constant.name, elementType: dtype.name, consumers: constant.consumers, count: count, largestAbs: largest)
            }
            if over > 0 { overflow.append(make(over, maxAbs)) }
            if under > 0 { underflow.append(make(under, maxAbs)) }
            if allIntegers && inexact > 0 { inexactIntegers.append(make(inexact, maxInexact)) }
        }
        overflow.sort { $0.largestAbs > $1.largestAbs }
        let arithmetic: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "Sum", "Mean", "CumSum", "Mod", "ReduceSum", "ReduceProd", "MatMul", "Gemm"]
        let inference = TypeInference(model)
        for graph in model.allGraphs {
            let types = inference.types(in: graph)
            let uses = DefUse(graph)
            for node in graph.nodes where node.opType == "Cast" && node.domain.isEmpty {
                guard let input = node.inputs.first, let from = types[input], from.isInteger,
                      let to = node[attribute: "to"]?.int, DType(rawValue: Int32(to))?.isFloatingPoint == true,
                      let output = node.outputs.first else { continue }
                let consumers = uses.consumers(of: output).map(\.node.opType).filter(arithmetic.contains)
                if !consumers.isEmpty { integerCasts.append(IntegerCast(node: node.label, from: from.name, consumers: consumers)) }
            }
        }
    }
}

/// Running counts of the values of one tensor that float16 cannot represent.
private struct ValueStatistics {
    var overflow = 0, underflow = 0, inexact = 0
    var allIntegers = true
    var maxAbs = 0.0, maxInexact = 0.0

    mutating func add(_ v: Double) {
        let a = abs(v)
        if a.isNaN { return }
        maxAbs = max(maxAbs, a)
        if a > FP16Risks.float16Max { overflow += 1 }
        if a != 0 && a < FP16Risks.tinyThreshold { underflow += 1 }
        if v.rounded() != v {
            allIntegers = false
        } else if a > FP16Risks.exactIntegerLimit && a <= FP16Risks.float16Max && Double(FloatConversion.roundTripFloat16(Float(a))) != a {
            inexact += 1
            maxInexact = max(maxInexact, a)
        }
    }
}
