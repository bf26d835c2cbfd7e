/// Device memory, given back when its owner lets go: to the driver (`init(_:bytes:)`), or to the
/// `DeviceAllocator` that handed it out. The device address stays inside this module: kernels take
/// a buffer as a `KernelArgument.buffer`, copies and fills are `CUDAStream` methods, and both check
/// offsets and sizes against `byteCount`.
public final class DeviceBuffer: @unchecked Sendable {
    public let context: CUDAContext
    /// The bytes asked for; a pooled block may be larger (its size class), never used past this.
    public let byteCount: Int
    let address: DevicePointer
    private let owner: Owner

    enum Owner {
        /// cuMemAlloc'ed for this buffer alone.
        case driver
        /// A block of a caching allocator, back to its pool on release.
        case pool(DeviceAllocator, DeviceBlock)
    }

    /// `bytes` of device memory of its own, straight from cuMemAlloc (no cache): for long-lived or
    /// one-off buffers. Buffers made and dropped repeatedly should come from a `DeviceAllocator`.
    public init(_ context: CUDAContext, bytes: Int) throws(CUDAError) {
        guard bytes >= 0 else { throw CUDAError(.badInput, function: "cuMemAlloc", message: "a buffer of \(bytes) bytes") }
        self.context = context
        byteCount = bytes
        owner = .driver
        try context.makeCurrent()
        var p: DevicePointer = 0
        // cuMemAlloc refuses 0 bytes; an empty buffer still gets an address of its own.
        try context.driver.check(context.driver.cuMemAlloc(&p, max(bytes, 1)), "cuMemAlloc(\(bytes) bytes)")
        address = p
    }

    init(_ context: CUDAContext, bytes: Int, block: DeviceBlock, allocator: DeviceAllocator) {
        self.context = context
        byteCount = bytes
        address = block.address
        owner = .pool(allocator, block)
    }

    deinit {
        switch owner {
        case .driver:
            try? context.makeCurrent()
            _ = context.driver.cuMemFree(address)
        case .pool(let allocator, let block):
            allocator.release(block)
        }
    }

    /// The device address of `bytes` bytes at `offset`, checked to lie inside the buffer.
    func address(at offset: Int, bytes: Int, for function: String) throws(CUDAError) -> DevicePointer {
        guard offset >= 0, bytes >= 0, offset <= byteCount, bytes <= byteCount - offset else {
            throw CUDAError(.badInput, function: function, message: "\(bytes) bytes at offset \(offset) do not fit a \(byteCount)-byte device buffer")
        }
        return address + DevicePointer(offset)
    }
}
