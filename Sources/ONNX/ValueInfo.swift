import Tensors

/// One dimension of a value's shape as the model declares it.
public enum Dimension: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    /// A named symbolic dimension such as `batch` or `N`.
    case symbol(String)
    /// Present but neither a value nor a name.
    case unknown

    public var description: String {
        switch self {
        case .fixed(let v): String(v)
        case .symbol(let s): s
        case .unknown: "?"
        }
    }
}

/// The declared name and type of a graph input, output or intermediate value. Wraps the protobuf
/// message so that everything we do not interpret (denotations, doc strings, metadata) survives.
public struct ValueInfo: Sendable {
    public var proto: Onnx_ValueInfoProto

    public init(proto: Onnx_ValueInfoProto) { self.proto = proto }

    /// A tensor value of `elementType` with `shape` (nil: shape not declared).
    public init(name: String, elementType: DType, shape: [Dimension]?) {
        proto = Onnx_ValueInfoProto()
        proto.name = name
        self.elementType = elementType
        if let shape { self.shape = shape }
    }

    public var name: String {
        get { proto.name }
        set { proto.name = newValue }
    }

    /// Tensor, sequence, optional, map or sparse tensor — or nothing declared.
    public var kind: ValueKind { ValueKind(proto.hasType ? proto.type : nil) }

    /// The element type of a tensor value (for sequences/optionals, of the tensors they hold).
    public var elementType: DType? {
        get { proto.hasType ? proto.type.elementType : nil }
        set {
            // Through sequences and optionals: only the tensor element type changes, never the kind.
            if proto.hasType, proto.type.setElementType(newValue) { return }
            if let newValue { proto.type.tensorType.elemType = newValue.rawValue } else { proto.type.tensorType.clearElemType() }
        }
    }

    /// The declared shape of a tensor value; nil when the rank is unknown.
    public var shape: [Dimension]? {
        get {
            guard proto.hasType, case .tensorType(let t)? = proto.type.value, t.hasShape else { return nil }
            return t.shape.dim.map(Dimension.init)
        }
        set {
            guard let newValue else { proto.type.tensorType.clearShape(); return }
            proto.type.tensorType.shape.dim = newValue.map(\.proto)
        }
    }
}

/// The kind of value a TypeProto declares.
public enum ValueKind: Equatable, Sendable, CustomStringConvertible {
    case tensor, sparseTensor, sequence, optional, map, undeclared

    init(_ type: Onnx_TypeProto?) {
        switch type?.value {
        case .tensorType?: self = .tensor
        case .sparseTensorType?: self = .sparseTensor
        case .sequenceType?: self = .sequence
        case .optionalType?: self = .optional
        case .mapType?: self = .map
        case nil: self = .undeclared
        }
    }

    public var description: String {
        switch self {
        case .tensor: "tensor"
        case .sparseTensor: "sparse tensor"
        case .sequence: "sequence"
        case .optional: "optional"
        case .map: "map"
        case .undeclared: "undeclared"
        }
    }
}

extension Onnx_TypeProto {
    /// Sets the element type of the tensors this type holds (through sequences and optionals).
    /// Returns false for a plain tensor type (the caller sets it directly) and for maps.
    mutating func setElementType(_ type: DType?) -> Bool {
        switch value {
        case .sequenceType(var s)?:
            if s.hasElemType {
                if !s.elemType.setElementType(type) { if let type { s.elemType.tensorType.elemType = type.rawValue } }
            }
            value = .sequenceType(s)
            return true
        case .optionalType(var o)?:
            if o.hasElemType {
                if !o.elemType.setElementType(type) { if let type { o.elemType.tensorType.elemType = type.rawValue } }
            }
            value = .optionalType(o)
            return true
        case .mapType?:
            return true  // maps are left alone
        default:
            return false
        }
    }

    /// The tensor element type, looking through sequences and optionals; nil if none is declared.
    var elementType: DType? {
        switch value {
        case .tensorType(let t)?: t.hasElemType ? DType(rawValue: t.elemType) : nil
        case .sparseTensorType(let t)?: t.hasElemType ? DType(rawValue: t.elemType) : nil
        case .sequenceType(let s)?: s.hasElemType ? s.elemType.elementType : nil
        case .optionalType(let o)?: o.hasElemType ? o.elemType.elementType : nil
        default: nil
        }
    }
}

extension Dimension {
    init(_ proto: Onnx_TensorShapeProto.Dimension) {
        switch proto.value {
        case .dimValue(let v)?: self = .fixed(Int(v))
        case .dimParam(let s)?: self = s.isEmpty ? .unknown : .symbol(s)
        case nil: self = .unknown
        }
    }

    var proto: Onnx_TensorShapeProto.Dimension {
        var d = Onnx_TensorShapeProto.Dimension()
        switch self {
        case .fixed(let v): d.dimValue = Int64(v)
        case .symbol(let s): d.dimParam = s
        case .unknown: break
        }
        return d
    }
}
