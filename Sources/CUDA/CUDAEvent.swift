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

    /// Blocks the host until the work before the event's last record has run.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuEventSynchronize(handle), "cuEventSynchronize")
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
