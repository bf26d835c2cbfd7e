import Tensors

/// Which inputs and outputs of one operator version may hold float32, float16 or bfloat16, and
/// which of them are bound to one type variable. The precision passes use it to decide, input by
/// input, what may change type: Resize's `scales` is `tensor(float)` whatever X is, Range has no
/// float16 before opset 27, Conv takes bfloat16 only from opset 22.
public struct FloatSlot: Equatable, Sendable {
    /// Slots with the same variable must carry the same element type.
    public let variable: Int
    public let float32: Bool
    public let float16: Bool
    public let bfloat16: Bool

    /// Whether the slot accepts `type` (float32, float16 or bfloat16).
    public func allows(_ type: DType) -> Bool {
        switch type {
        case .float32: float32
        case .float16: float16
        case .bfloat16: bfloat16
        default: false
        }
    }
}

/// A row of the generated table: the tokens of `scripts/generate-type-rules.py`'s `float_slots`.
struct FloatSlotRule: Sendable {
    let sinceVersion: Int
    let inputs: String
    let outputs: String
}

public struct FloatSlots: Sendable {
    /// nil entries: the formal parameter never holds float32.
    private let inputs: [FloatSlot?]
    private let outputs: [FloatSlot?]
    private let variadicInput: Bool
    private let variadicOutput: Bool

    /// The slots of `opType` in `domain` ("" or "ai.onnx" for the default) at opset `version`
    /// (the newest schema version not above it); nil for operators ONNX does not define.
    public static func lookup(domain: String, opType: String, version: Int?) -> FloatSlots? {
        let key = "\(domain.isEmpty ? "ai.onnx" : domain):\(opType)"
        guard let versions = generatedFloatSlots[key] else {
            // Operators absent from the table are known ones that never touch float32.
            return OperatorTypeRule.lookup(domain: domain.isEmpty ? "ai.onnx" : domain, opType: opType, version: version) == nil
                ? nil : FloatSlots(inputs: [], outputs: [], variadicInput: false, variadicOutput: false)
        }
        let rule = version.flatMap { v in versions.filter { $0.sinceVersion <= v }.max { $0.sinceVersion < $1.sinceVersion } }
            ?? versions.max { $0.sinceVersion < $1.sinceVersion }!
        let (i, vi) = parse(rule.inputs), (o, vo) = parse(rule.outputs)
        return FloatSlots(inputs: i, outputs: o, variadicInput: vi, variadicOutput: vo)
    }

    /// The slot of actual input `index` (a variadic last formal input covers every later one).
    public func input(_ index: Int) -> FloatSlot? { slot(inputs, variadicInput, index) }
    public func output(_ index: Int) -> FloatSlot? { slot(outputs, variadicOutput, index) }

    private func slot(_ slots: [FloatSlot?], _ variadic: Bool, _ index: Int) -> FloatSlot? {
        if index < slots.count { return slots[index] }
        return variadic ? slots.last ?? nil : nil
    }

    private static func parse(_ tokens: String) -> ([FloatSlot?], Bool) {
        var variadic = false
        let slots = tokens.split(separator: " ").map { token -> FloatSlot? in
            if token.hasSuffix("*") { variadic = true }
            let body = token.filter { $0 != "*" }
            guard body != "-" else { return nil }
            let digits = body.prefix { $0.isNumber }
            // Character arguments: `contains` with a String argument is Foundation's (not in the static binary).
            return FloatSlot(variable: Int(digits) ?? 0, float32: body.contains(Character("f")), float16: body.contains(Character("h")),
                             bfloat16: body.contains(Character("b")))
        }
        return (slots, variadic)
    }
}
