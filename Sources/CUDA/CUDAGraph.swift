/// A stream's work captured once and replayed with one launch: what removes the per-kernel launch
/// cost of a model run (dozens of kernels at batch 1). The captured work reads and writes the same
/// device addresses on every replay, so whatever it touches must outlive the graph.
public final class CUDAGraph: @unchecked Sendable {
    public let context: CUDAContext
    private let graph: Handle
    private let executable: Handle

    /// Captures what `body` queues on `stream` (nothing runs during capture). Capture is
    /// thread-local: other threads may use CUDA meanwhile, but `body` must not synchronize.
    public init(capturing stream: CUDAStream, _ body: () throws -> Void) throws {
        context = stream.context
        let driver = context.driver
        try context.makeCurrent()
        try driver.check(driver.cuStreamBeginCapture(stream.handle, 1), "cuStreamBeginCapture")  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
        var captured: Handle?
        do {
            try body()
        } catch {
            // End the capture so the stream is usable again; the partial graph is dropped.
            _ = driver.cuStreamEndCapture(stream.handle, &captured)
            if let captured { _ = driver.cuGraphDestroy(captured) }
            throw error
        }
        try driver.check(driver.cuStreamEndCapture(stream.handle, &captured), "cuStreamEndCapture")
        guard let captured else { throw CUDAError(.call, function: "cuStreamEndCapture", message: "no graph was captured") }
        var exec: Handle?
        let code = driver.cuGraphInstantiateWithFlags(&exec, captured, 0)
        if code != 0 { _ = driver.cuGraphDestroy(captured) }
        try driver.check(code, "cuGraphInstantiateWithFlags")
        graph = captured
        executable = exec!
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuGraphExecDestroy(executable)
        _ = context.driver.cuGraphDestroy(graph)
    }

    /// Queues one replay on `stream`.
    public func launch(on stream: CUDAStream) throws(CUDAError) {
        try context.makeCurrent()
        try context.driver.check(context.driver.cuGraphLaunch(executable, stream.handle), "cuGraphLaunch")
    }
}

/// A byte range of a device buffer: where one tensor of an engine's arena lives. Library calls
/// (cuDNN) take these; the address is formed, checked against the buffer, only inside this module.
public struct DeviceRegion: @unchecked Sendable {
    public let buffer: DeviceBuffer
    public let offset: Int
    public let byteCount: Int

    public init(_ buffer: DeviceBuffer, offset: Int = 0, bytes: Int? = nil) {
        self.buffer = buffer
        self.offset = offset
        byteCount = bytes ?? (buffer.byteCount - offset)
    }

    func address(for function: String) throws(CUDAError) -> DevicePointer {
        try buffer.address(at: offset, bytes: byteCount, for: function)
    }

    public var argument: KernelArgument { .buffer(buffer, offset: offset) }

    /// A library call's workspace, address and size (0 and 0 for none), checked to hold the `needed`
    /// bytes of the algorithm chosen.
    static func workspace(_ region: DeviceRegion?, needing needed: Int, for function: String) throws(CUDAError) -> (address: DevicePointer, bytes: Int) {
        let bytes = region?.byteCount ?? 0
        guard bytes >= needed else {
            throw CUDAError(.badInput, function: function, message: "a \(bytes)-byte workspace for an algorithm that needs \(needed)")
        }
        return (try region.map { (r) throws(CUDAError) in try r.address(for: function) } ?? 0, bytes)
    }
}
