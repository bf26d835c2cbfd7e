import Inference
import Tensors

// ONNXType values of OrtValues (onnxruntime_c_api.h).
enum ONNXValueType {
    static let tensor: Int32 = 1, sequence: Int32 = 2, map: Int32 = 3, sparseTensor: Int32 = 5, optional: Int32 = 6
}

extension ORTValues {
    /// Calls `body` with an OrtValue per value: tensors wrapped without copying (as
    /// `withInputValues`), sequences built over them, empty optionals as nil (left out of the run).
    /// An empty sequence needs its element type: `sequenceElementTypes[i]` for values[i].
    static func withInputValues(
        _ values: [SessionValue], sequenceElementTypes: [Int32?], library: ORTLibrary, into list: ORTValueList,
        _ body: ([ORTHandle?]) throws(ORTError) -> Void
    ) throws(ORTError) {
        try withInputValues(values.flatMap(\.tensors), library: library, into: list) { (handles) throws(ORTError) in
            var next = handles.makeIterator()
            func build(_ value: SessionValue, elementType: Int32?) throws(ORTError) -> ORTHandle? {
                switch value {
                case .tensor: return next.next()!
                case .optional(let inner):
                    guard let inner else { return nil }
                    return try build(inner, elementType: elementType)
                case .sequence(let elements):
                    // CreateValue needs at least one element: an empty one comes from SequenceEmpty.
                    if elements.isEmpty {
                        guard let elementType else {
                            throw ORTError(code: .badInput, message: "an empty sequence needs its element type, and the model does not declare one for this input", operation: "building input values")
                        }
                        let made = try EmptySequence.make(elementType: elementType, library: library)
                        list.append(made)
                        return made
                    }
                    var handles: [ORTHandle?] = []
                    for element in elements { handles.append(try build(element, elementType: nil)) }
                    var made: ORTHandle?
                    let status = handles.withUnsafeBufferPointer { library.api.createValue($0.baseAddress, handles.count, ONNXValueType.sequence, &made) }
                    try library.api.check(status, "building a sequence of \(elements.count) values")
                    list.append(made)
                    return made
                }
            }
            var built: [ORTHandle?] = []
            for (value, type) in zip(values, sequenceElementTypes) { built.append(try build(value, elementType: type)) }
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
