import Synchronization

/// A caching allocator of device memory for one context: buffers released by their owners keep
/// their memory for the next request of the same size class on the same stream, so a pipeline that
/// makes the same buffers batch after batch stops calling cuMemAlloc/cuMemFree (each of which may
/// synchronize the device). The rules are `DeviceMemoryPool`'s; this type adds the driver and a lock.
///
/// ```swift
/// let allocator = DeviceAllocator(context: context)
/// let batch = try allocator.buffer(bytes: 3 * 640 * 640 * 2, stream: stream)
/// // ... kernels on `stream` ...
/// // `batch` released: its block waits in the cache for the next batch.
/// print(allocator.statistics)
/// allocator.trim()    // give the cache back, e.g. before a phase that needs the memory elsewhere
/// ```
public final class DeviceAllocator: @unchecked Sendable {
    public let context: CUDAContext
    private let pool: Mutex<DeviceMemoryPool<DriverMemory>>

    public init(context: CUDAContext) {
        self.context = context
        pool = Mutex(DeviceMemoryPool(memory: DriverMemory(context: context)))
    }

    /// Buffers hold their allocator, so none is in use here: everything left is cache.
    deinit { trim() }

    /// A buffer of `bytes` for work queued on `stream` (nil: the default stream, or synchronous use).
    /// Throws `.outOfMemory` when the device has no room even after the cache was given back.
    public func buffer(bytes: Int, stream: CUDAStream? = nil) throws(CUDAError) -> DeviceBuffer {
        let key = stream?.poolKey ?? 0
        let block = try pool.withLock { (pool) throws(CUDAError) -> DeviceBlock in try pool.allocate(bytes: bytes, stream: key) }
        return DeviceBuffer(context, bytes: bytes, block: block, allocator: self)
    }

    /// Gives every cached block back to the device (after the device finished the work queued on them).
    public func trim() { pool.withLock { $0.trim() } }

    public var statistics: DeviceAllocatorStatistics { pool.withLock { $0.statistics } }

    func release(_ block: DeviceBlock) { pool.withLock { $0.release(block) } }
}

/// cuMemAlloc and cuMemFree in one context.
struct DriverMemory: RawDeviceMemory {
    let context: CUDAContext

    func allocate(bytes: Int) throws(CUDAError) -> UInt64 {
        try context.makeCurrent()
        var address: DevicePointer = 0
        try context.driver.check(context.driver.cuMemAlloc(&address, bytes), "cuMemAlloc(\(bytes) bytes)")
        return address
    }

    func free(_ addresses: [UInt64]) {
        guard (try? context.makeCurrent()) != nil else { return }
        // Released blocks may still be read or written by work queued on their streams: wait for it.
        _ = context.driver.cuCtxSynchronize()
        for address in addresses { _ = context.driver.cuMemFree(address) }
    }
}
