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
