/// A device's primary context, retained for as long as anything made in it lives. Every call below
/// makes it current on the calling thread first, so objects can be used from any thread.
public final class CUDAContext: @unchecked Sendable {
    public let cuda: CUDA
    public let device: CUDADevice
    let handle: Handle

    public init(device index: Int = 0) throws(CUDAError) {
        cuda = try CUDA.shared()
        device = try cuda.device(index)
        var context: Handle?
        try cuda.driver.check(cuda.driver.cuDevicePrimaryCtxRetain(&context, device.handle), "cuDevicePrimaryCtxRetain")
        handle = context!
    }

    deinit { _ = driver.cuDevicePrimaryCtxRelease(device.handle) }

    var driver: DriverAPI { cuda.driver }

    func makeCurrent() throws(CUDAError) { try driver.check(driver.cuCtxSetCurrent(handle), "cuCtxSetCurrent") }

    /// Free and total device memory, in bytes.
    public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
        try makeCurrent()
        var free = 0, total = 0
        try driver.check(driver.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }
}

/// Device memory, freed with its owner.
public final class DeviceBuffer: @unchecked Sendable {
    public let context: CUDAContext
    public let pointer: UInt64
    public let byteCount: Int

    public init(_ context: CUDAContext, bytes: Int) throws(CUDAError) {
        self.context = context
        byteCount = bytes
        try context.makeCurrent()
        var p: DevicePointer = 0
        try context.driver.check(context.driver.cuMemAlloc(&p, max(bytes, 1)), "cuMemAlloc(\(bytes) bytes)")
        pointer = p
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuMemFree(pointer)
    }
}

/// Page-locked host memory: the source of fast asynchronous copies to the device.
public final class PinnedBuffer: @unchecked Sendable {
    public let context: CUDAContext
    public let bytes: UnsafeMutableRawBufferPointer

    public init(_ context: CUDAContext, bytes count: Int) throws(CUDAError) {
        self.context = context
        try context.makeCurrent()
        var p: UnsafeMutableRawPointer?
        try context.driver.check(context.driver.cuMemAllocHost(&p, max(count, 1)), "cuMemAllocHost(\(count) bytes)")
        bytes = UnsafeMutableRawBufferPointer(start: p, count: count)
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuMemFreeHost(bytes.baseAddress)
    }
}

/// A stream of asynchronous work.
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

    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuStreamSynchronize(handle), "cuStreamSynchronize")
    }

    public func copy(_ source: UnsafeRawBufferPointer, to destination: DeviceBuffer, offset: Int = 0) throws(CUDAError) {
        guard offset >= 0, offset + source.count <= destination.byteCount else {
            throw CUDAError(.badInput, function: "cuMemcpyHtoDAsync", message: "\(source.count) bytes at \(offset) do not fit a \(destination.byteCount)-byte buffer")
        }
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyHtoDAsync(destination.pointer + UInt64(offset), source.baseAddress, source.count, handle), "cuMemcpyHtoDAsync")
    }

    public func copy(_ source: DeviceBuffer, to destination: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        guard destination.count <= source.byteCount else {
            throw CUDAError(.badInput, function: "cuMemcpyDtoHAsync", message: "\(destination.count) bytes wanted from a \(source.byteCount)-byte buffer")
        }
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyDtoHAsync(destination.baseAddress, source.pointer, destination.count, handle), "cuMemcpyDtoHAsync")
    }

    public func copy(_ source: DeviceBuffer, to destination: DeviceBuffer, bytes: Int) throws(CUDAError) {
        guard bytes <= source.byteCount, bytes <= destination.byteCount else {
            throw CUDAError(.badInput, function: "cuMemcpyDtoDAsync", message: "\(bytes) bytes exceed a buffer")
        }
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemcpyDtoDAsync(destination.pointer, source.pointer, bytes, handle), "cuMemcpyDtoDAsync")
    }

    /// Fills a buffer with one byte (e.g. a poison pattern, so unwritten elements show).
    public func fill(_ buffer: DeviceBuffer, byte: UInt8) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuMemsetD8Async(buffer.pointer, byte, buffer.byteCount, handle), "cuMemsetD8Async")
    }
}

/// A point in a stream, for timing work on the device.
public final class CUDAEvent: @unchecked Sendable {
    public let context: CUDAContext
    let handle: Handle

    public init(_ context: CUDAContext) throws(CUDAError) {
        self.context = context
        try context.makeCurrent()
        var e: Handle?
        try context.driver.check(context.driver.cuEventCreate(&e, 0), "cuEventCreate")
        handle = e!
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuEventDestroy(handle)
    }

    public func record(on stream: CUDAStream) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuEventRecord(handle, stream.handle), "cuEventRecord")
    }

    /// Milliseconds from `start` to this event (both recorded, this one waited for).
    public func milliseconds(since start: CUDAEvent) throws(CUDAError) -> Double {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuEventSynchronize(handle), "cuEventSynchronize")
        var ms: Float = 0
        try context.driver.check(context.driver.cuEventElapsedTime(&ms, start.handle, handle), "cuEventElapsedTime")
        return Double(ms)
    }
}
