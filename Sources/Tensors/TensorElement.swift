/// A Swift type that can be the element of a dense tensor, tied to exactly one `DType`.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
    static var zero: Self { get }
}

extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension UInt16: TensorElement { public static var dtype: DType { .uint16 } }
extension UInt32: TensorElement { public static var dtype: DType { .uint32 } }
extension UInt64: TensorElement { public static var dtype: DType { .uint64 } }
extension Bool: TensorElement {
    public static var dtype: DType { .bool }
    public static var zero: Bool { false }
}
extension BFloat16: TensorElement {
    public static var dtype: DType { .bfloat16 }
    public static var zero: BFloat16 { BFloat16(bitPattern: 0) }
}
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: TensorElement { public static var dtype: DType { .float16 } }
#endif
