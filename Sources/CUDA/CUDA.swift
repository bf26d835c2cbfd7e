import FoundationEssentials
import Synchronization

/// The CUDA driver and NVRTC, loaded once per process. `CUDA.shared()` throws `noDevice` or
/// `libraryUnavailable` on a machine without a GPU, which callers turn into a CPU fallback.
public final class CUDA: @unchecked Sendable {
    let driver: DriverAPI
    /// NVRTC is only needed to compile kernels; a machine with the driver but no toolkit can still
    /// query devices, so it loads on first use.
    private let nvrtcState = Mutex<Result<NVRTCAPI, CUDAError>?>(nil)
    /// cuDNN likewise, for the engine only.
    private let cudnnState = Mutex<Result<CuDNNAPI, CUDAError>?>(nil)
    /// cuBLASLt likewise: the engine's products of two computed matrices.
    private let cublasLtState = Mutex<Result<CuBLASLtAPI, CUDAError>?>(nil)
    public let driverVersion: Int
    public let deviceCount: Int

    private static let instance = Mutex<Result<CUDA, CUDAError>?>(nil)

    public static func shared() throws(CUDAError) -> CUDA {
        let result = instance.withLock { state -> Result<CUDA, CUDAError> in
            if let state { return state }
            let made = Result { () throws(CUDAError) in try CUDA() }
            state = made
            return made
        }
        return try result.get()
    }

    private init() throws(CUDAError) {
        driver = try DriverAPI.load()
        var version: Int32 = 0, count: Int32 = 0
        try driver.check(driver.cuInit(0), "cuInit")
        try driver.check(driver.cuDriverGetVersion(&version), "cuDriverGetVersion")
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard count > 0 else { throw CUDAError(.noDevice, function: "cuDeviceGetCount", message: "no CUDA device") }
        driverVersion = Int(version)
        deviceCount = Int(count)
    }

    func nvrtc() throws(CUDAError) -> NVRTCAPI { try Self.once(nvrtcState, NVRTCAPI.load) }

    func cudnn() throws(CUDAError) -> CuDNNAPI { try Self.once(cudnnState, CuDNNAPI.load) }

    func cublasLt() throws(CUDAError) -> CuBLASLtAPI { try Self.once(cublasLtState, CuBLASLtAPI.load) }

    /// A library's declarations, loaded on first use and kept, failure included, for the process.
    private static func once<API: Sendable>(_ state: borrowing Mutex<Result<API, CUDAError>?>,
                                            _ load: () throws(CUDAError) -> API) throws(CUDAError) -> API {
        let result = state.withLock { state -> Result<API, CUDAError> in
            if let state { return state }
            let made = Result { () throws(CUDAError) in try load() }
            state = made
            return made
        }
        return try result.get()
    }

    /// Properties of device `index`.
    public func device(_ index: Int) throws(CUDAError) -> CUDADevice {
        guard index >= 0, index < deviceCount else {
            throw CUDAError(.noDevice, function: "cuDeviceGet", message: "no CUDA device \(index) (this machine has \(deviceCount))")
        }
        var handle: Int32 = 0
        try driver.check(driver.cuDeviceGet(&handle, Int32(index)), "cuDeviceGet")
        func attribute(_ a: Int32) throws(CUDAError) -> Int {
            var v: Int32 = 0
            try driver.check(driver.cuDeviceGetAttribute(&v, a, handle), "cuDeviceGetAttribute(\(a))")
            return Int(v)
        }
        var memory = 0
        try driver.check(driver.cuDeviceTotalMem(&memory, handle), "cuDeviceTotalMem")
        // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16, COMPUTE_CAPABILITY_MAJOR 75, _MINOR 76.
        return CUDADevice(index: index, handle: handle, name: try driver.deviceName(handle),
                          multiprocessors: try attribute(16), computeCapability: (try attribute(75), try attribute(76)), memoryBytes: memory)
    }
}

/// One GPU's identity and properties.
public struct CUDADevice: Sendable, CustomStringConvertible {
    public let index: Int
    let handle: Int32
    public let name: String
    public let multiprocessors: Int
    public let computeCapability: (major: Int, minor: Int)
    public let memoryBytes: Int

    /// NVRTC's architecture option for this device ("sm_90" on H100/H200).
    public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

    public var description: String {
        "\(index): \(name), \(multiprocessors) SMs, compute \(computeCapability.major).\(computeCapability.minor), \(memoryBytes >> 30) GiB"
    }
}
