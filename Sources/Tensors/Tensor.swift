/// A dense, C-contiguous tensor in aligned host memory, with value semantics.
///
/// Copies and views share storage until one of them is written (copy on write). Raw memory is
/// reached only inside the scoped `withUnsafe…` closures. String tensors keep their elements out
/// of line as byte strings (ONNX strings are bytes, not necessarily UTF-8).
public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public private(set) var shape: Shape
    private var storage: TensorStorage
    private var byteOffset: Int
    /// The elements of a `.string` tensor; empty for every other type.
    public private(set) var strings: [[UInt8]]

    public var elementCount: Int { shape.elementCount }
    /// Bytes of element data (sub-byte types packed); 0 for strings.
    public var byteCount: Int { dtype.byteCount(elements: elementCount) ?? 0 }

    /// A tensor of `dtype` and `shape`, zero-filled (or left uninitialised for speed when asked).
    public init(dtype: DType, shape: Shape, zeroed: Bool = true) throws(TensorError) {
        let isString = dtype == .string
        guard let bytes = isString ? 0 : dtype.byteCount(elements: shape.elementCount) else {
            throw .invalidShape("\(shape) of \(dtype) does not fit in memory")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = TensorStorage(byteCount: bytes, zeroed: zeroed)
        self.byteOffset = 0
        self.strings = isString ? Array(repeating: [], count: shape.elementCount) : []
    }

    /// A tensor holding a copy of `bytes`, which must be exactly the size of `shape` × `dtype`.
    public init(dtype: DType, shape: Shape, bytes: UnsafeRawBufferPointer) throws(TensorError) {
        guard dtype != .string, let expected = dtype.byteCount(elements: shape.elementCount) else {
            throw .unsupported("raw bytes cannot hold a \(dtype) tensor")
        }
        guard bytes.count == expected else {
            throw .invalidShape("\(bytes.count) bytes given for \(shape) of \(dtype), which needs \(expected)")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = TensorStorage(copying: bytes)
        self.byteOffset = 0
        self.strings = []
    }

    /// A tensor of the given elements, laid out in `shape` (element count must match).
    public init<T: TensorElement>(shape: Shape, elements: [T]) throws(TensorError) {
        guard elements.count == shape.elementCount else {
            throw .invalidShape("\(elements.count) elements given for shape \(shape) (\(shape.elementCount))")
        }
        let made: Tensor? = elements.withUnsafeBytes { try? Tensor(dtype: T.dtype, shape: shape, bytes: $0) }
        guard let made else { throw .unsupported("\(T.dtype) elements") }
        self = made
    }

    /// A string tensor; `shape` must have as many elements as `strings`.
    public init(shape: Shape, strings: [[UInt8]]) throws(TensorError) {
        guard strings.count == shape.elementCount else {
            throw .invalidShape("\(strings.count) strings given for shape \(shape) (\(shape.elementCount))")
        }
        self.init(strings: strings, unchecked: shape)
    }

    private init(strings: [[UInt8]], unchecked shape: Shape) {
        dtype = .string
        self.shape = shape
        storage = TensorStorage(byteCount: 0)
        byteOffset = 0
        self.strings = strings
    }

    // MARK: Views

    /// The same elements seen with another shape of equal element count (no copy).
    public func reshaped(_ newShape: Shape) throws(TensorError) -> Tensor {
        guard newShape.elementCount == elementCount else {
            throw .invalidShape("cannot reshape \(shape) (\(elementCount) elements) to \(newShape)")
        }
        var view = self
        view.shape = newShape
        return view
    }

    /// Rows `range` of the outermost axis (e.g. images of a batch), sharing storage (no copy).
    public func slice(_ range: Range<Int>) throws(TensorError) -> Tensor {
        guard shape.rank > 0, range.lowerBound >= 0, range.upperBound <= shape[0] else {
            throw .invalidShape("slice \(range) out of bounds for shape \(shape)")
        }
        var dims = shape.dimensions
        dims[0] = range.count
        let rowElements = shape[0] == 0 ? 0 : elementCount / shape[0]
        var view = self
        view.shape = try Shape(dims)
        if dtype == .string {
            view.strings = Array(strings[(range.lowerBound * rowElements)..<(range.upperBound * rowElements)])
            return view
        }
        guard let rowBytes = dtype.byteSize.map({ $0 * rowElements }) else {
            throw .unsupported("slicing packed \(dtype) tensors")
        }
        view.byteOffset += range.lowerBound * rowBytes
        return view
    }

    // MARK: Scoped memory access

    /// Reads the element bytes (strings: empty).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: storage.base + byteOffset, count: byteCount))
    }

    /// Writes the element bytes; copies first if another tensor shares this storage.
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        if !isKnownUniquelyReferenced(&storage) || byteOffset != 0 || storage.byteCount != byteCount {
            let count = byteCount
            let fresh = TensorStorage(copying: UnsafeRawBufferPointer(start: storage.base + byteOffset, count: count))
            storage = fresh
            byteOffset = 0
        }
        return try body(UnsafeMutableRawBufferPointer(start: storage.base, count: byteCount))
    }

    /// Reads the elements as `T`, which must be this tensor's element type.
    public func withUnsafeBufferPointer<T: TensorElement, R, E: Error>(
        as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws(E) -> R
    ) throws(E) -> R {
        precondition(T.dtype == dtype, "tensor of \(dtype) read as \(T.dtype)")
        return try withUnsafeBytes { (raw) throws(E) -> R in try body(raw.bindMemory(to: T.self)) }
    }

    /// Writes the elements as `T`, which must be this tensor's element type.
    public mutating func withUnsafeMutableBufferPointer<T: TensorElement, R, E: Error>(
        as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws(E) -> R
    ) throws(E) -> R {
        precondition(T.dtype == dtype, "tensor of \(dtype) written as \(T.dtype)")
        return try withUnsafeMutableBytes { (raw) throws(E) -> R in try body(raw.bindMemory(to: T.self)) }
    }

    /// The elements as a Swift array of `T`, checked against the element type.
    public func elements<T: TensorElement>(as type: T.Type) throws(TensorError) -> [T] {
        guard T.dtype == dtype else { throw .dtypeMismatch(expected: T.dtype.name, actual: dtype) }
        return withUnsafeBufferPointer(as: T.self) { Array($0) }
    }

    /// Element-wise equality of type, shape and bytes (NaNs with equal bits are equal).
    public func bitwiseEquals(_ other: Tensor) -> Bool {
        guard dtype == other.dtype, shape == other.shape else { return false }
        if dtype == .string { return strings == other.strings }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}
