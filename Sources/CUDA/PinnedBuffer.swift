/// Page-locked host memory: the source of fast asynchronous copies to the device. Its bytes are
/// reached only inside `withUnsafeMutableBytes`/`withUnsafeBytes`, so no pointer outlives the buffer.
public final class PinnedBuffer: @unchecked Sendable {
    public let context: CUDAContext
    public let byteCount: Int
    private let base: UnsafeMutableRawPointer

    public init(_ context: CUDAContext, bytes count: Int) throws(CUDAError) {
        guard count >= 0 else { throw CUDAError(.badInput, function: "cuMemAllocHost", message: "a buffer of \(count) bytes") }
        self.context = context
        byteCount = count
        try context.makeCurrent()
        var p: UnsafeMutableRawPointer?
        try context.driver.check(context.driver.cuMemAllocHost(&p, max(count, 1)), "cuMemAllocHost(\(count) bytes)")
        guard let p else { throw CUDAError(.call, function: "cuMemAllocHost", message: "the driver returned no memory for \(count) bytes") }
        base = p
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuMemFreeHost(base)
    }

    /// Runs `body` on the buffer's bytes; the pointer must not escape it.
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
    }

    /// Runs `body` on the buffer's bytes, read-only; the pointer must not escape it.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: byteCount))
    }
}
