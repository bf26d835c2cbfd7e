import FoundationEssentials
import Tensors

/// Decoding and encoding of `TensorProto` data: `raw_data` (little-endian bytes) or the typed
/// fields (`float_data`, `int32_data` …) that older exporters and Constant nodes use.
public enum TensorCodec {
    public static func decode(_ proto: Onnx_TensorProto) throws(ONNXError) -> Tensor {
        let name = proto.name
        guard let dtype = DType(rawValue: proto.dataType) else {
            throw .tensor(name: name, reason: "unknown element type code \(proto.dataType)")
        }
        guard proto.dataLocation != .external else {
            throw .tensor(name: name, reason: "data is still in an external file; load the model with its external data")
        }
        let shape: Shape
        do { shape = try Shape(proto.dims.map(Int.init)) } catch { throw .tensor(name: name, reason: "\(error)") }
        do {
            if dtype == .string {
                return try Tensor(shape: shape, strings: proto.stringData.map { Array($0) })
            }
            if proto.hasRawData {
                guard let expected = dtype.byteCount(elements: shape.elementCount), expected == proto.rawData.count else {
                    throw ONNXError.tensor(name: name, reason: "raw_data has \(proto.rawData.count) bytes; \(shape) of \(dtype) needs \(dtype.byteCount(elements: shape.elementCount) ?? -1)")
                }
                return try proto.rawData.withUnsafeBytes { raw in
                    Result { () throws(TensorError) -> Tensor in try Tensor(dtype: dtype, shape: shape, bytes: raw) }
                }.get()
            }
            return try decodeTypedFields(proto, dtype: dtype, shape: shape)
        } catch let error as ONNXError {
            throw error
        } catch {
            throw .tensor(name: name, reason: "\(error)")
        }
    }

    private static func decodeTypedFields(_ p: Onnx_TensorProto, dtype: DType, shape: Shape) throws -> Tensor {
        let n = shape.elementCount
        func check(_ count: Int, _ field: String, _ per: Int = 1) throws {
            guard count == n * per else {
                throw ONNXError.tensor(name: p.name, reason: "\(field) has \(count) values; shape \(shape) needs \(n * per)")
            }
        }
        switch dtype {
        case .float32: try check(p.floatData.count, "float_data"); return try Tensor(shape: shape, elements: p.floatData)
        case .float64: try check(p.doubleData.count, "double_data"); return try Tensor(shape: shape, elements: p.doubleData)
        case .int64: try check(p.int64Data.count, "int64_data"); return try Tensor(shape: shape, elements: p.int64Data)
        case .int32: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data)
        case .int16: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data.map { Int16(truncatingIfNeeded: $0) })
        case .int8: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data.map { Int8(truncatingIfNeeded: $0) })
        case .uint16: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data.map { UInt16(truncatingIfNeeded: $0) })
        case .uint8: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .bool: try check(p.int32Data.count, "int32_data"); return try Tensor(shape: shape, elements: p.int32Data.map { $0 != 0 })
        case .float16, .bfloat16:
            // 16-bit floats travel as their bit patterns in int32_data.
            try check(p.int32Data.count, "int32_data")
            let bits = p.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            return try bits.withUnsafeBytes { try Tensor(dtype: dtype, shape: shape, bytes: $0) }
        case .uint32: try check(p.uint64Data.count, "uint64_data"); return try Tensor(shape: shape, elements: p.uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .uint64: try check(p.uint64Data.count, "uint64_data"); return try Tensor(shape: shape, elements: p.uint64Data)
        case .complex64:
            try check(p.floatData.count, "float_data", 2)
            return try p.floatData.withUnsafeBytes { try Tensor(dtype: dtype, shape: shape, bytes: $0) }
        case .complex128:
            try check(p.doubleData.count, "double_data", 2)
            return try p.doubleData.withUnsafeBytes { try Tensor(dtype: dtype, shape: shape, bytes: $0) }
        default:
            if n == 0 { return try Tensor(dtype: dtype, shape: shape) }
            throw ONNXError.tensor(name: p.name, reason: "\(dtype) data outside raw_data is not supported")
        }
    }

    /// A TensorProto holding `tensor` in `raw_data` (strings in `string_data`).
    public static func encode(_ tensor: Tensor, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dataType = tensor.dtype.rawValue
        p.dims = tensor.shape.dimensions.map(Int64.init)
        if tensor.dtype == .string {
            p.stringData = tensor.strings.map { Data($0) }
        } else {
            p.rawData = tensor.withUnsafeBytes { Data($0) }
        }
        return p
    }
}
