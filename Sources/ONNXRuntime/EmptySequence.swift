/// ORT's C API cannot build an empty sequence (CreateValue needs at least one element), but a model
/// can: one `SequenceEmpty` node. Running that two-line model gives an empty sequence value of the
/// wanted element type, which is then fed like any other value.
enum EmptySequence {
    /// A new empty sequence of `elementType` tensors (an ONNX TensorProto data type); the caller
    /// releases it.
    static func make(elementType: Int32, library: ORTLibrary) throws(ORTError) -> ORTHandle {
        let api = library.api
        let bytes = model(elementType: elementType)
        var options: ORTHandle?
        try api.check(api.createSessionOptions(&options), "creating an empty sequence")
        defer { api.releaseSessionOptions(options) }
        var session: ORTHandle?
        let status = bytes.withUnsafeBytes { api.createSessionFromArray(library.env, $0.baseAddress, $0.count, options, &session) }
        try api.check(status, "creating an empty sequence of element type \(elementType)")
        defer { api.releaseSession(session!) }
        var result: ORTHandle?
        try CStrings.with(["s"]) { (names) throws(ORTError) in
            try api.check(api.run(session, nil, nil, nil, 0, names, 1, &result), "creating an empty sequence")
        }
        return result!
    }

    /// ModelProto bytes, written field by field (IR 7, opset 11): graph "empty_sequence" with one
    /// node SequenceEmpty(dtype) -> s, and s declared a sequence of `elementType` tensors.
    static func model(elementType: Int32) -> [UInt8] {
        let type = UInt64(elementType)
        let elementTypeProto = bytesField(1, intField(1, type))                 // TypeProto.tensor_type.elem_type
        let sequenceType = bytesField(4, bytesField(1, elementTypeProto))       // TypeProto.sequence_type.elem_type
        let output = bytesField(1, Array("s".utf8)) + bytesField(2, sequenceType)  // ValueInfoProto name, type
        let dtype = bytesField(1, Array("dtype".utf8)) + intField(3, type) + intField(20, 2)  // AttributeProto name, i, type INT
        let node = bytesField(2, Array("s".utf8)) + bytesField(4, Array("SequenceEmpty".utf8)) + bytesField(5, dtype)
        let graph = bytesField(1, node) + bytesField(2, Array("empty_sequence".utf8)) + bytesField(12, output)
        return intField(1, 7) + bytesField(7, graph) + bytesField(8, intField(2, 11))  // ir_version, graph, opset_import
    }

    private static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(v & 0x7F) | (v > 0x7F ? 0x80 : 0))
            v >>= 7
        } while v != 0
        return out
    }

    private static func intField(_ number: UInt64, _ value: UInt64) -> [UInt8] { varint(number << 3) + varint(value) }
    private static func bytesField(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] { varint(number << 3 | 2) + varint(UInt64(payload.count)) + payload }
}
