/// The element type of a tensor: every ONNX `TensorProto.DataType`, with the same raw codes.
///
/// Types HalfPipe computes with have a byte size; float8, int4/uint4 and float4 are recognised by
/// name and code (so models holding them load and save) but have no arithmetic here.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// The ONNX name (`TensorProto.DataType` spelled as in the spec's type strings, e.g. `float16`).
    public var description: String { name }

    public var name: String {
        switch self {
        case .float32: "float"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .float64: "double"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .bfloat16: "bfloat16"
        case .float8e4m3fn: "float8e4m3fn"
        case .float8e4m3fnuz: "float8e4m3fnuz"
        case .float8e5m2: "float8e5m2"
        case .float8e5m2fnuz: "float8e5m2fnuz"
        case .uint4: "uint4"
        case .int4: "int4"
        case .float4e2m1: "float4e2m1"
        case .float8e8m0: "float8e8m0"
        case .uint2: "uint2"
        case .int2: "int2"
        }
    }

    /// Parses ONNX names and the common aliases (`float`/`float32`/`fp32`, `half`/`fp16`, `bf16`, `double`).
    public init?(name: String) {
        switch name.lowercased() {
        case "float", "float32", "fp32", "f32": self = .float32
        case "float16", "half", "fp16", "f16": self = .float16
        case "bfloat16", "bf16": self = .bfloat16
        case "double", "float64", "fp64", "f64": self = .float64
        default:
            guard let match = DType.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = match
        }
    }

    /// Bits per element; strings have none (they are stored out of line).
    public var bitWidth: Int? {
        switch self {
        case .bool, .uint8, .int8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .int32, .uint32, .float32: 32
        case .int64, .uint64, .float64, .complex64: 64
        case .complex128: 128
        case .uint4, .int4, .float4e2m1: 4
        case .uint2, .int2: 2
        case .string: nil
        }
    }

    /// Bytes per element for whole-byte types; nil for strings and packed sub-byte types.
    public var byteSize: Int? {
        guard let bits = bitWidth, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// Bytes needed for `count` elements (sub-byte types pack, rounding up); nil for strings.
    public func byteCount(elements count: Int) -> Int? {
        guard let bits = bitWidth else { return nil }
        let (total, overflow) = count.multipliedReportingOverflow(by: bits)
        return overflow ? nil : (total + 7) / 8
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2,
            .float8e5m2fnuz, .float4e2m1, .float8e8m0: true
        default: false
        }
    }

    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .int32, .int64, .uint32, .uint64, .uint4, .int4, .uint2, .int2: true
        default: false
        }
    }

    /// Whether HalfPipe has element access and conversions for this type (not only its name).
    public var isComputable: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64, .uint8, .int8, .uint16, .int16, .int32, .int64,
            .uint32, .uint64, .bool: true
        default: false
        }
    }
}
