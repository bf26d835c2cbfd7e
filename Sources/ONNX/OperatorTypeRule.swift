import Tensors

/// How one operator version's outputs get their element types, and which inputs must agree.
/// The table itself (`generatedOperatorTypeRules`) is generated from ONNX's operator schemas by
/// `scripts/generate-type-rules.py`.
struct OperatorTypeRule: Sendable {
    let sinceVersion: Int
    /// One rule per formal output; a variadic last output repeats its rule.
    let outputs: [OutputTypeRule]
    /// Groups of input positions bound to one type variable; a trailing -1 means "and all later inputs".
    let sameTypeInputs: [[Int]]

    init(sinceVersion: Int, outputs: [OutputTypeRule], sameTypeInputs: [[Int]] = []) {
        self.sinceVersion = sinceVersion
        self.outputs = outputs
        self.sameTypeInputs = sameTypeInputs
    }
}

enum OutputTypeRule: Sendable {
    /// Same element type as input `i`.
    case input(Int)
    /// Always this type.
    case fixed(DType)
    /// An int attribute holding a type code (Cast's `to`); `default` when absent.
    case attribute(String, default: DType?)
    /// An int attribute if present, else input `i`'s type (EyeLike's `dtype`).
    case attributeOrInput(String, Int)
    /// Handled by hand in `TypeInference` (Constant, control flow, sequences, quantization …).
    case special
}

extension OperatorTypeRule {
    /// The rule in force for `opType` of `domain` at opset `version` (the newest since-version ≤ it).
    static func lookup(domain: String, opType: String, version: Int?) -> OperatorTypeRule? {
        guard let versions = generatedOperatorTypeRules["\(domain):\(opType)"] else { return nil }
        guard let version else { return versions.max { $0.sinceVersion < $1.sinceVersion } }
        return versions.filter { $0.sinceVersion <= version }.max { $0.sinceVersion < $1.sinceVersion }
    }
}
