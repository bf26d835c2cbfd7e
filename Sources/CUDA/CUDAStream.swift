/// A stream of asynchronous work: copies, fills and kernels run in the order they are queued.
/// Copies and fills take buffers, never addresses, and check every size against them.
public final class CUDAStream: @unchecked Sendable {
    public let context: CUDAContext
    let handle: Handle

    public init(_ context: CUDAContext) throws(CUDAError) {
        self.context = context
        try context.makeCurrent()
        var s: Handle?
        try context.driver.check(context.driver.cuStreamCreate(&s, 1), "cuStreamCreate")  // CU_STREAM_NON_BLOCKING
        handle = s!
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuStreamDestroy(handle)
    }

    /// What a `DeviceAllocator` files this stream's blocks under. The handle is unique among live
    /// streams, and the driver frees it only once the stream's work is done.
    var poolKey: UInt64 { UInt64(UInt(bitPattern: handle)) }

    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuStreamSynchronize(handle), "cuStreamSynchronize")
    }

    /// Work queued on this stream after this call waits for `event` (recorded on another stream)
    /// on the device; the host does not wait.
    public func wait(for event: CUDAEvent) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuStreamWaitEvent(handle, event.handle, 0), "cuStreamWaitEvent")
    }

    /// Host bytes to `destination` at `offset`. From pageable memory the driver stages the copy, so
    /// it is only truly asynchronous from a `PinnedBuffer`.
    public func copy(_ source: UnsafeRawBufferPointer, to destination: DeviceBuffer, offset: Int = 0) throws(CUDAError) {
        let target = try destination.address(at: offset, bytes: source.count, for: "cuMemcpyHtoDAsync")
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyHtoDAsync(target, source.baseAddress, source.count, handle), "cuMemcpyHtoDAsync")
    }

    /// The first `bytes` of a pinned buffer (all of it by default) to `destination` at `offset`.
    /// The pinned bytes must stay unchanged until the stream has run the copy.
    public func copy(_ source: PinnedBuffer, bytes: Int? = nil, to destination: DeviceBuffer, offset: Int = 0) throws(CUDAError) {
        let count = bytes ?? source.byteCount
        guard count >= 0, count <= source.byteCount else {
            throw CUDAError(.badInput, function: "cuMemcpyHtoDAsync", message: "\(count) bytes wanted from a \(source.byteCount)-byte pinned buffer")
        }
        try source.withUnsafeBytes { (raw) throws(CUDAError) in try copy(UnsafeRawBufferPointer(rebasing: raw[0..<count]), to: destination, offset: offset) }
    }

    /// `destination.count` bytes of `source`, from `offset`, to host memory.
    public func copy(_ source: DeviceBuffer, at offset: Int = 0, to destination: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        let from = try source.address(at: offset, bytes: destination.count, for: "cuMemcpyDtoHAsync")
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyDtoHAsync(destination.baseAddress, from, destination.count, handle), "cuMemcpyDtoHAsync")
    }

    public func copy(_ source: DeviceBuffer, to destination: DeviceBuffer, bytes: Int) throws(CUDAError) {
        let from = try source.address(at: 0, bytes: bytes, for: "cuMemcpyDtoDAsync")
        let to = try destination.address(at: 0, bytes: bytes, for: "cuMemcpyDtoDAsync")
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyDtoDAsync(to, from, bytes, handle), "cuMemcpyDtoDAsync")
    }

    /// Fills a buffer with one byte (e.g. a poison pattern, so unwritten elements show).
    public func fill(_ buffer: DeviceBuffer, byte: UInt8) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemsetD8Async(buffer.address, byte, buffer.byteCount, handle), "cuMemsetD8Async")
    }
}
