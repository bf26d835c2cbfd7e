/// numpy `descr` strings (`'<f4'`, `'|b1'`, `'<U3'` …) and the DType each one stands for.
struct NPYDescriptor: Equatable {
    enum Kind: Equatable {
        case numeric(DType)
        /// Fixed-width byte strings (`|S8`): elements are the bytes up to the first NUL.
        case bytes(width: Int)
        /// Fixed-width UTF-32 strings (`<U8`), read as UTF-8 bytes.
        case unicode(width: Int)
    }
    var kind: Kind
    var bigEndian: Bool

    /// Element size in the file.
    var itemSize: Int {
        switch kind {
        case .numeric(let t): t.byteSize ?? 0
        case .bytes(let w): w
        case .unicode(let w): 4 * w
        }
    }

    init(kind: Kind, bigEndian: Bool = false) {
        self.kind = kind
        self.bigEndian = bigEndian
    }

    /// Parses a descr; `where` names the file for the error.
    init(parsing descr: String, where path: String) throws(TensorError) {
        var chars = Substring(descr)
        var big = false
        if let first = chars.first, "<>|=".contains(first) {
            big = first == ">"
            chars = chars.dropFirst()
        }
        guard let code = chars.first, let width = Int(chars.dropFirst()), width >= 0 else {
            throw .malformedFile(path: path, reason: "unsupported numpy dtype '\(descr)' (structured and object arrays cannot be read)")
        }
        let numeric: DType? = switch (code, width) {
        case ("f", 2): .float16
        case ("f", 4): .float32
        case ("f", 8): .float64
        case ("i", 1): .int8
        case ("i", 2): .int16
        case ("i", 4): .int32
        case ("i", 8): .int64
        case ("u", 1): .uint8
        case ("u", 2): .uint16
        case ("u", 4): .uint32
        case ("u", 8): .uint64
        case ("b", 1): .bool
        case ("c", 8): .complex64
        case ("c", 16): .complex128
        // numpy writes ml_dtypes.bfloat16 as an opaque 2-byte void; it is the only such ONNX type.
        case ("V", 2): .bfloat16
        default: nil
        }
        if let numeric {
            self.init(kind: .numeric(numeric), bigEndian: big)
        } else if code == "S" {
            self.init(kind: .bytes(width: width))
        } else if code == "U" {
            self.init(kind: .unicode(width: width), bigEndian: big)
        } else if code == "V" && width == 1 {
            throw .malformedFile(path: path, reason: "numpy dtype '\(descr)' is an opaque byte (float8/int4 saved by ml_dtypes); its real type is ambiguous")
        } else {
            throw .malformedFile(path: path, reason: "unsupported numpy dtype '\(descr)'")
        }
    }

    /// The descr numpy itself writes for this kind (little-endian).
    var string: String {
        switch kind {
        case .bytes(let w): return "|S\(w)"
        case .unicode(let w): return "<U\(w)"
        case .numeric(let t):
            switch t {
            case .float16: return "<f2"
            case .float32: return "<f4"
            case .float64: return "<f8"
            case .int8: return "|i1"
            case .int16: return "<i2"
            case .int32: return "<i4"
            case .int64: return "<i8"
            case .uint8: return "|u1"
            case .uint16: return "<u2"
            case .uint32: return "<u4"
            case .uint64: return "<u8"
            case .bool: return "|b1"
            case .complex64: return "<c8"
            case .complex128: return "<c16"
            case .bfloat16: return "<V2"
            default: return "|V\(t.byteSize ?? 1)"
            }
        }
    }

    /// The descr for writing a tensor of `dtype`; string tensors become fixed-width byte strings.
    static func forWriting(_ tensor: Tensor) throws(TensorError) -> NPYDescriptor {
        if tensor.dtype == .string {
            return NPYDescriptor(kind: .bytes(width: max(1, tensor.strings.map(\.count).max() ?? 1)))
        }
        guard tensor.dtype.byteSize != nil, tensor.dtype.isComputable || tensor.dtype == .complex64 || tensor.dtype == .complex128 else {
            throw .unsupported("numpy has no dtype for \(tensor.dtype)")
        }
        return NPYDescriptor(kind: .numeric(tensor.dtype))
    }
}
