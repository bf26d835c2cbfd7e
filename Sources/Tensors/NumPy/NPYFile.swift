import FoundationEssentials

/// numpy's `.npy` format: one array per file. Reads every numeric dtype of `DType` (either byte
/// order, C or Fortran order, versions 1.0–3.0) and fixed-width byte/unicode strings; writes what
/// `numpy.save` writes, so numpy reads our files back unchanged.
public enum NPY {
    /// Reads the `.npy` file at `path`.
    public static func read(contentsOf path: String) throws(TensorError) -> Tensor {
        try decode(FileBytes.read(path), path: path)
    }

    /// Writes `tensor` to `path` atomically (temporary file, then rename).
    public static func write(_ tensor: Tensor, to path: String, fortranOrder: Bool = false) throws(TensorError) {
        try FileBytes.writeAtomically(encode(tensor, fortranOrder: fortranOrder), to: path)
    }

    /// Decodes a whole `.npy` image; `path` only names the source in errors.
    public static func decode(_ data: Data, path: String) throws(TensorError) -> Tensor {
        try data.withUnsafeBytes { (raw) -> Result<Tensor, TensorError> in
            Result { () throws(TensorError) -> Tensor in
                let (header, offset) = try NPYHeader.parse(raw, path: path)
                return try decodeBody(UnsafeRawBufferPointer(rebasing: raw[offset...]), header: header, path: path)
            }
        }.get()
    }

    private static func decodeBody(_ body: UnsafeRawBufferPointer, header: NPYHeader, path: String) throws(TensorError) -> Tensor {
        let shape: Shape
        do { shape = try Shape(header.shape) } catch { throw .malformedFile(path: path, reason: "\(error)") }
        let item = header.descriptor.itemSize
        let (needed, overflow) = shape.elementCount.multipliedReportingOverflow(by: item)
        guard !overflow, body.count >= needed else {
            throw .malformedFile(path: path, reason: "truncated data: shape \(shape) needs \(needed) bytes, file has \(body.count)")
        }
        // Fortran data of shape (a, b, c) is C data of shape (c, b, a); transpose it back.
        let storedShape = header.fortranOrder ? Shape(unchecked: header.shape.reversed()) : shape
        let data = UnsafeRawBufferPointer(rebasing: body[0..<needed])
        switch header.descriptor.kind {
        case .numeric(let dtype):
            var tensor = try Tensor(dtype: dtype, shape: storedShape, bytes: data)
            if header.descriptor.bigEndian { tensor.byteSwapElements() }
            return header.fortranOrder ? try tensor.reversingAxes() : tensor
        case .bytes(let width), .unicode(let width):
            var strings: [[UInt8]] = []
            strings.reserveCapacity(storedShape.elementCount)
            for i in 0..<storedShape.elementCount {
                let cell = UnsafeRawBufferPointer(rebasing: data[(i * item)..<((i + 1) * item)])
                strings.append(decodeString(cell, kind: header.descriptor.kind, bigEndian: header.descriptor.bigEndian, width: width))
            }
            let tensor = try Tensor(shape: storedShape, strings: strings)
            return header.fortranOrder ? try tensor.reversingAxes() : tensor
        }
    }

    /// numpy drops only trailing NULs (bytes) / U+0000 (unicode): a NUL inside a string is data
    /// (`b"a\x00b"` stays three bytes), so this must not stop at the first one.
    private static func decodeString(_ cell: UnsafeRawBufferPointer, kind: NPYDescriptor.Kind, bigEndian: Bool, width: Int) -> [UInt8] {
        if case .bytes = kind {
            var end = cell.count
            while end > 0 && cell[end - 1] == 0 { end -= 1 }
            return Array(cell[0..<end])
        }
        var values: [UInt32] = (0..<width).map { i in
            var v = UInt32(0)
            for b in 0..<4 { v |= UInt32(cell[i * 4 + b]) << (bigEndian ? 8 * (3 - b) : 8 * b) }
            return v
        }
        while values.last == 0 { values.removeLast() }
        var scalars = String.UnicodeScalarView()
        for v in values { scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}") }
        return Array(String(scalars).utf8)
    }

    /// The bytes `numpy.save` would write for `tensor`.
    public static func encode(_ tensor: Tensor, fortranOrder: Bool = false) throws(TensorError) -> Data {
        let descriptor = try NPYDescriptor.forWriting(tensor)
        let stored = fortranOrder ? try tensor.reversingAxes() : tensor
        var out = Data(NPYHeader(descriptor: descriptor, fortranOrder: fortranOrder, shape: tensor.shape.dimensions).encoded())
        if case .bytes(let width) = descriptor.kind {
            out.reserveCapacity(out.count + width * stored.elementCount)
            for s in stored.strings { out.append(contentsOf: s + [UInt8](repeating: 0, count: width - s.count)) }
        } else {
            stored.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }
}

extension Shape {
    /// For shapes built from already-validated dimensions.
    init(unchecked dimensions: [Int]) { self.dimensions = dimensions }
}

extension Tensor {
    /// Reverses the byte order of every element (complex numbers component by component).
    mutating func byteSwapElements() {
        guard var size = dtype.byteSize, size > 1 else { return }
        if dtype == .complex64 || dtype == .complex128 { size /= 2 }
        withUnsafeMutableBytes { raw in
            var i = 0
            while i + size <= raw.count {
                var lo = i, hi = i + size - 1
                while lo < hi { raw.swapAt(lo, hi); lo += 1; hi -= 1 }
                i += size
            }
        }
    }

    /// The transpose that reverses every axis (Fortran order ⇄ C order), copying the elements.
    func reversingAxes() throws(TensorError) -> Tensor {
        guard shape.rank > 1 else { return self }
        let outShape = Shape(unchecked: shape.dimensions.reversed())
        if dtype == .string {
            let idx = reversedAxesSourceIndices(from: shape)
            return try Tensor(shape: outShape, strings: idx.map { strings[$0] })
        }
        guard let size = dtype.byteSize else { throw .unsupported("transposing packed \(dtype) tensors") }
        var out = try Tensor(dtype: dtype, shape: outShape, zeroed: false)
        let idx = reversedAxesSourceIndices(from: shape)
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for (o, s) in idx.enumerated() {
                    dst.baseAddress!.advanced(by: o * size).copyMemory(from: src.baseAddress! + s * size, byteCount: size)
                }
            }
        }
        return out
    }
}

/// For each element of the reversed-axes tensor (in C order), its index in a C-order tensor of `shape`.
private func reversedAxesSourceIndices(from shape: Shape) -> [Int] {
    let dims = shape.dimensions, strides = shape.contiguousStrides
    let outDims = Array(dims.reversed()), outStridesInSource = Array(strides.reversed())
    var result = [Int](); result.reserveCapacity(shape.elementCount)
    var counter = [Int](repeating: 0, count: dims.count)
    for _ in 0..<shape.elementCount {
        var s = 0
        for a in 0..<counter.count { s += counter[a] * outStridesInSource[a] }
        result.append(s)
        var a = counter.count - 1
        while a >= 0 { counter[a] += 1; if counter[a] < outDims[a] { break }; counter[a] = 0; a -= 1 }
    }
    return result
}
