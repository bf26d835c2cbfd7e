import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

// The only file with C declarations for CUDA: the driver API (libcuda) and NVRTC, loaded with
// dlopen at run time, every symbol looked up by name. Our own declarations of NVIDIA's documented
// signatures; CUresult and nvrtcResult are Int32, handles opaque pointers, device pointers UInt64.
typealias CUResult = Int32
typealias Handle = OpaquePointer
typealias OutHandle = UnsafeMutablePointer<OpaquePointer?>
typealias DevicePointer = UInt64

struct DriverAPI {
    let cuInit: @convention(c) (UInt32) -> CUResult
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>?) -> CUResult
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>?) -> CUResult
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> CUResult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32) -> CUResult
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>?, Int32, Int32) -> CUResult
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>?, Int32) -> CUResult
    let cuDevicePrimaryCtxRetain: @convention(c) (OutHandle?, Int32) -> CUResult
    let cuDevicePrimaryCtxRelease: @convention(c) (Int32) -> CUResult
    let cuCtxSetCurrent: @convention(c) (Handle?) -> CUResult
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int>?) -> CUResult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<DevicePointer>?, Int) -> CUResult
    let cuMemFree: @convention(c) (DevicePointer) -> CUResult
    let cuMemAllocHost: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int) -> CUResult
    let cuMemFreeHost: @convention(c) (UnsafeMutableRawPointer?) -> CUResult
    let cuMemcpyHtoDAsync: @convention(c) (DevicePointer, UnsafeRawPointer?, Int, Handle?) -> CUResult
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer?, DevicePointer, Int, Handle?) -> CUResult
    let cuMemcpyDtoDAsync: @convention(c) (DevicePointer, DevicePointer, Int, Handle?) -> CUResult
    let cuMemsetD8Async: @convention(c) (DevicePointer, UInt8, Int, Handle?) -> CUResult
    let cuStreamCreate: @convention(c) (OutHandle?, UInt32) -> CUResult
    let cuStreamDestroy: @convention(c) (Handle?) -> CUResult
    let cuStreamSynchronize: @convention(c) (Handle?) -> CUResult
    let cuEventCreate: @convention(c) (OutHandle?, UInt32) -> CUResult
    let cuEventRecord: @convention(c) (Handle?, Handle?) -> CUResult
    let cuEventSynchronize: @convention(c) (Handle?) -> CUResult
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>?, Handle?, Handle?) -> CUResult
    let cuEventDestroy: @convention(c) (Handle?) -> CUResult
    let cuModuleLoadData: @convention(c) (OutHandle?, UnsafeRawPointer?) -> CUResult
    let cuModuleGetFunction: @convention(c) (OutHandle?, Handle?, UnsafePointer<CChar>?) -> CUResult
    let cuModuleUnload: @convention(c) (Handle?) -> CUResult
    let cuLaunchKernel: @convention(c) (Handle?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUResult
    let cuGetErrorName: @convention(c) (CUResult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUResult
    let cuGetErrorString: @convention(c) (CUResult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUResult

    init(_ lib: LoadedLibrary) throws(CUDAError) {
        cuInit = try lib.symbol("cuInit"); cuDriverGetVersion = try lib.symbol("cuDriverGetVersion")
        cuDeviceGetCount = try lib.symbol("cuDeviceGetCount"); cuDeviceGet = try lib.symbol("cuDeviceGet")
        cuDeviceGetName = try lib.symbol("cuDeviceGetName"); cuDeviceGetAttribute = try lib.symbol("cuDeviceGetAttribute")
        cuDeviceTotalMem = try lib.symbol("cuDeviceTotalMem_v2")
        cuDevicePrimaryCtxRetain = try lib.symbol("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try lib.symbol("cuDevicePrimaryCtxRelease_v2")
        cuCtxSetCurrent = try lib.symbol("cuCtxSetCurrent"); cuMemGetInfo = try lib.symbol("cuMemGetInfo_v2")
        cuMemAlloc = try lib.symbol("cuMemAlloc_v2"); cuMemFree = try lib.symbol("cuMemFree_v2")
        cuMemAllocHost = try lib.symbol("cuMemAllocHost_v2"); cuMemFreeHost = try lib.symbol("cuMemFreeHost")
        cuMemcpyHtoDAsync = try lib.symbol("cuMemcpyHtoDAsync_v2"); cuMemcpyDtoHAsync = try lib.symbol("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try lib.symbol("cuMemcpyDtoDAsync_v2"); cuMemsetD8Async = try lib.symbol("cuMemsetD8Async")
        cuStreamCreate = try lib.symbol("cuStreamCreate"); cuStreamDestroy = try lib.symbol("cuStreamDestroy_v2")
        cuStreamSynchronize = try lib.symbol("cuStreamSynchronize")
        cuEventCreate = try lib.symbol("cuEventCreate"); cuEventRecord = try lib.symbol("cuEventRecord")
        cuEventSynchronize = try lib.symbol("cuEventSynchronize")
        // CUDA 12.8 added a _v2 with the same signature; CUDA 13 headers map the name to it.
        cuEventElapsedTime = try lib.symbol("cuEventElapsedTime_v2", orElse: "cuEventElapsedTime")
        cuEventDestroy = try lib.symbol("cuEventDestroy_v2")
        cuModuleLoadData = try lib.symbol("cuModuleLoadData"); cuModuleGetFunction = try lib.symbol("cuModuleGetFunction")
        cuModuleUnload = try lib.symbol("cuModuleUnload"); cuLaunchKernel = try lib.symbol("cuLaunchKernel")
        cuGetErrorName = try lib.symbol("cuGetErrorName"); cuGetErrorString = try lib.symbol("cuGetErrorString")
    }
}

struct NVRTCAPI {
    let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> Int32
    let nvrtcCreateProgram: @convention(c) (OutHandle?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32,
                                            UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let nvrtcCompileProgram: @convention(c) (Handle?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let nvrtcGetProgramLogSize: @convention(c) (Handle?, UnsafeMutablePointer<Int>?) -> Int32
    let nvrtcGetProgramLog: @convention(c) (Handle?, UnsafeMutablePointer<CChar>?) -> Int32
    let nvrtcGetCUBINSize: @convention(c) (Handle?, UnsafeMutablePointer<Int>?) -> Int32
    let nvrtcGetCUBIN: @convention(c) (Handle?, UnsafeMutablePointer<CChar>?) -> Int32
    let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    let nvrtcGetErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?

    init(_ lib: LoadedLibrary) throws(CUDAError) {
        nvrtcVersion = try lib.symbol("nvrtcVersion"); nvrtcCreateProgram = try lib.symbol("nvrtcCreateProgram")
        nvrtcCompileProgram = try lib.symbol("nvrtcCompileProgram")
        nvrtcGetProgramLogSize = try lib.symbol("nvrtcGetProgramLogSize"); nvrtcGetProgramLog = try lib.symbol("nvrtcGetProgramLog")
        nvrtcGetCUBINSize = try lib.symbol("nvrtcGetCUBINSize"); nvrtcGetCUBIN = try lib.symbol("nvrtcGetCUBIN")
        nvrtcDestroyProgram = try lib.symbol("nvrtcDestroyProgram"); nvrtcGetErrorString = try lib.symbol("nvrtcGetErrorString")
    }
}

/// A dlopen'ed library; symbols are looked up by name and cast to our declarations.
struct LoadedLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let path: String

    /// The first of `candidates` (paths or bare names for the loader's search) that loads.
    static func open(_ candidates: [String], what: String) throws(CUDAError) -> LoadedLibrary {
        var reasons: [String] = []
        for path in candidates {
            if let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) { return LoadedLibrary(handle: handle, path: path) }
            reasons.append(dlerror().map { String(cString: $0) } ?? path)
        }
        throw CUDAError(.libraryUnavailable, function: "dlopen",
                        message: "\(what) not found (tried \(candidates.joined(separator: ", "))); install the NVIDIA driver / CUDA toolkit, or set \(CUDALibraries.pathVariable) to the folder holding it. Last error: \(reasons.last ?? "-")")
    }

    func symbol<F>(_ name: String, orElse fallback: String? = nil) throws(CUDAError) -> F {
        guard let address = dlsym(handle, name) ?? fallback.flatMap({ dlsym(handle, $0) }) else {
            throw CUDAError(.libraryUnavailable, function: name, message: "\(path) has no symbol \(name) (a driver or toolkit too old?)")
        }
        return unsafeBitCast(address, to: F.self)
    }
}

/// Where libcuda and libnvrtc are looked for: HALFPIPE_CUDA_LIBRARY_PATH's folders, the standard
/// CUDA and driver folders, then the loader's own search by name.
enum CUDALibraries {
    static let pathVariable = "HALFPIPE_CUDA_LIBRARY_PATH"

    static func folders() -> [String] {
        var folders = (ProcessInfo.processInfo.environment[pathVariable] ?? "").split(separator: ":").map(String.init)
        folders += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/local")) ?? [])
            .filter { $0.hasPrefix("cuda-") }.sorted().reversed()
        for v in versioned { folders += ["/usr/local/\(v)/lib64", "/usr/local/\(v)/targets/x86_64-linux/lib"] }
        folders += ["/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib64", "/usr/lib/wsl/lib"]
        return folders
    }

    static func candidates(_ names: [String]) -> [String] {
        folders().flatMap { folder in names.map { "\(folder)/\($0)" } }.filter { FileManager.default.fileExists(atPath: $0) } + names
    }

    static let driverNames = ["libcuda.so.1", "libcuda.so"]
    static let nvrtcNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
}
