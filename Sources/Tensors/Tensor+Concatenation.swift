extension Tensor {
    /// `parts` joined along their first axis (a batch of samples): one element type, the same
    /// trailing dimensions, copied once into a fresh tensor.
    /// - Throws: `TensorError` naming what differs when the parts do not stack.
    public static func concatenated(_ parts: [Tensor]) throws(TensorError) -> Tensor {
        guard let first = parts.first else { throw .invalidShape("nothing to concatenate") }
        guard first.shape.rank >= 1 else { throw .invalidShape("a scalar has no axis to concatenate along") }
        if parts.count == 1 { return first }
        let rest = Array(first.shape.dimensions.dropFirst())
        for part in parts.dropFirst() {
            guard part.dtype == first.dtype else { throw .dtypeMismatch(expected: first.dtype.name, actual: part.dtype) }
            guard part.shape.rank >= 1, Array(part.shape.dimensions.dropFirst()) == rest else {
                throw .invalidShape("cannot stack \(parts.map(\.shape.description).joined(separator: ", ")) along the first axis: the other dimensions differ")
            }
        }
        var joined = try Tensor(dtype: first.dtype, shape: try Shape([parts.reduce(0) { $0 + $1.shape[0] }] + rest), zeroed: false)
        joined.withUnsafeMutableBytes { destination in
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { source in
                    if source.count > 0 { destination.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count) }
                    offset += source.count
                }
            }
        }
        return joined
    }
}
