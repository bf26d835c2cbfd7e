/// An owned, 64-byte aligned block of host memory (cache-line and AVX-512 friendly).
///
/// Tensors share a storage between views and copy it before a write when it is shared, so a
/// storage is only ever written while exactly one tensor refers to it.
public final class TensorStorage: @unchecked Sendable {
    public static let alignment = 64
    let base: UnsafeMutableRawPointer
    public let byteCount: Int

    /// Allocates `byteCount` bytes, zero-filled when asked (fresh pages are cheap to zero).
    public init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Self.alignment)
        if zeroed { base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
    }

    /// Copies bytes into a new aligned storage.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(byteCount: bytes.count, zeroed: false)
        if let src = bytes.baseAddress, bytes.count > 0 { base.copyMemory(from: src, byteCount: bytes.count) }
    }

    deinit { base.deallocate() }
}
