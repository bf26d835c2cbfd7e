import Tensors

/// A constant tensor of the graph (`initializer`, or a Constant node's value), wrapping the
/// protobuf message so data and fields we do not interpret survive unchanged.
public struct Initializer: Sendable {
    public var proto: Onnx_TensorProto

    public init(proto: Onnx_TensorProto) { self.proto = proto }

    /// An initializer holding `tensor` (as `raw_data`; strings as `string_data`).
    public init(name: String, tensor: Tensor) {
        proto = TensorCodec.encode(tensor, name: name)
    }

    public var name: String {
        get { proto.name }
        set { proto.name = newValue }
    }
    /// nil when the code is not a known ONNX type.
    public var dtype: DType? { DType(rawValue: proto.dataType) }
    public var dims: [Int] { proto.dims.map(Int.init) }
    public var elementCount: Int { proto.dims.reduce(1) { $0 * Int($1) } }
    /// Whether the bytes still live in an external file (not loaded).
    public var isExternal: Bool { proto.dataLocation == .external }

    /// The tensor, decoded from whichever field holds the data.
    public func tensor() throws(ONNXError) -> Tensor { try TensorCodec.decode(proto) }
}
