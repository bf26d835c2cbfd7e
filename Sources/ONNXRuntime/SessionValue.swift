import Tensors

/// Any value an ONNX model passes: a tensor, a sequence of values (SplitToSequence, Loop scan
/// outputs), or an optional that may hold nothing (Optional, If branches). Most models only use
/// tensors and `ORTSession.run(_:)`; `run(values:)` takes and gives these.
public indirect enum SessionValue: Sendable {
    case tensor(Tensor)
    case sequence([SessionValue])
    /// nil is ONNX's empty optional ("None").
    case optional(SessionValue?)

    /// The tensors inside, depth first (the order `ORTValues` wraps them in).
    var tensors: [Tensor] {
        switch self {
        case .tensor(let t): [t]
        case .sequence(let elements): elements.flatMap(\.tensors)
        case .optional(let inner): inner?.tensors ?? []
        }
    }

    /// An optional's content (recursively); the value itself otherwise. ORT hands a present
    /// optional back as its content, so results compare after this.
    public var unwrapped: SessionValue? {
        if case .optional(let inner) = self { return inner?.unwrapped }
        return self
    }
}

// ONNXType values of OrtValues (onnxruntime_c_api.h).
enum ONNXValueType {
    static let tensor: Int32 = 1, sequence: Int32 = 2, map: Int32 = 3, sparseTensor: Int32 = 5, optional: Int32 = 6
}

extension ORTValues {
    /// Calls `body` with an OrtValue per value: tensors wrapped without copying (as
    /// `withInputValues`), sequences built over them, empty optionals as nil (left out of the run).
    static func withInputValues(
        _ values: [SessionValue], library: ORTLibrary, into list: ORTValueList,
        _ body: ([ORTHandle?]) throws(ORTError) -> Void
    ) throws(ORTError) {
        try withInputValues(values.flatMap(\.tensors), library: library, into: list) { (handles) throws(ORTError) in
            var next = handles.makeIterator()
            func build(_ value: SessionValue) throws(ORTError) -> ORTHandle? {
                switch value {
                case .tensor: return next.next()!
                case .optional(let inner): return try inner.map(build) ?? nil
                case .sequence(let elements):
                    // The C API has no way to make an empty sequence (Python's binding reaches ORT's
                    // C++ types directly); say so instead of passing on "should be at least 1".
                    guard !elements.isEmpty else {
                        throw ORTError(code: .badInput, message: "an empty sequence cannot be fed: ONNX Runtime's C API builds sequences with CreateValue, which needs at least one element (Python's binding does it through ORT's C++ types); give at least one element, or create the empty sequence inside the model with SequenceEmpty", operation: "building input values")
                    }
                    let handles = try elements.map(build)
                    var made: ORTHandle?
                    let status = handles.withUnsafeBufferPointer { library.api.createValue($0.baseAddress, handles.count, ONNXValueType.sequence, &made) }
                    try library.api.check(status, "building a sequence of \(elements.count) values")
                    list.append(made)
                    return made
                }
            }
            var built: [ORTHandle?] = []
            for value in values { built.append(try build(value)) }
            try body(built)
        }
    }

    /// Copies an ORT output of any kind into a `SessionValue`.
    static func value(from handle: ORTHandle, library: ORTLibrary, name: String) throws(ORTError) -> SessionValue {
        let api = library.api
        var present: Int32 = 1
        try api.check(api.hasValue(handle, &present), "reading output '\(name)'")
        if present == 0 { return .optional(nil) }
        var kind: Int32 = 0
        try api.check(api.getValueType(handle, &kind), "reading output '\(name)'")
        switch kind {
        case ONNXValueType.tensor:
            return .tensor(try tensor(from: handle, library: library, name: name))
        case ONNXValueType.sequence:
            var count = 0
            try api.check(api.getValueCount(handle, &count), "reading sequence output '\(name)'")
            var elements: [SessionValue] = []
            for i in 0..<count {
                var element: ORTHandle?
                try api.check(api.getValue(handle, Int32(i), library.allocator, &element), "reading element \(i) of '\(name)'")
                defer { api.releaseValue(element!) }
                elements.append(try value(from: element!, library: library, name: "\(name)[\(i)]"))
            }
            return .sequence(elements)
        default:
            let what = [ONNXValueType.map: "a map", ONNXValueType.sparseTensor: "a sparse tensor"][kind] ?? "a value of ONNX type \(kind)"
            throw ORTError(code: .badInput, message: "output '\(name)' is \(what); tensors, sequences and optionals are supported", operation: "reading outputs")
        }
    }
}
