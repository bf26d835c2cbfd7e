import Tensors

// The CUDA driver API (libcuda), loaded with dlopen at run time, every symbol looked up by name: our
// own declarations of NVIDIA's documented signatures, and the only place besides the other
// *Declarations.swift files where CUDA is called through raw pointers. CUresult is an Int32 (0 is
// CUDA_SUCCESS), handles are opaque pointers, device addresses UInt64 (CUdeviceptr).
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
    let cuCtxSynchronize: @convention(c) () -> CUResult
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
    let cuStreamWaitEvent: @convention(c) (Handle?, Handle?, UInt32) -> CUResult
    let cuModuleLoadData: @convention(c) (OutHandle?, UnsafeRawPointer?) -> CUResult
    let cuModuleGetFunction: @convention(c) (OutHandle?, Handle?, UnsafePointer<CChar>?) -> CUResult
    let cuModuleUnload: @convention(c) (Handle?) -> CUResult
    let cuLaunchKernel: @convention(c) (Handle?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUResult
    // CUDA graphs: a stream's queued work captured once, replayed with one launch.
    let cuStreamBeginCapture: @convention(c) (Handle?, Int32) -> CUResult
    let cuStreamEndCapture: @convention(c) (Handle?, OutHandle?) -> CUResult
    let cuGraphInstantiateWithFlags: @convention(c) (OutHandle?, Handle?, UInt64) -> CUResult
    let cuGraphLaunch: @convention(c) (Handle?, Handle?) -> CUResult
    let cuGraphExecDestroy: @convention(c) (Handle?) -> CUResult
    let cuGraphDestroy: @convention(c) (Handle?) -> CUResult
    let cuGetErrorName: @convention(c) (CUResult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUResult
    let cuGetErrorString: @convention(c) (CUResult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUResult

    init(_ lib: DynamicLibrary) throws(DynamicLibraryError) {
        cuInit = try lib.symbol("cuInit"); cuDriverGetVersion = try lib.symbol("cuDriverGetVersion")
        cuDeviceGetCount = try lib.symbol("cuDeviceGetCount"); cuDeviceGet = try lib.symbol("cuDeviceGet")
        cuDeviceGetName = try lib.symbol("cuDeviceGetName"); cuDeviceGetAttribute = try lib.symbol("cuDeviceGetAttribute")
        cuDeviceTotalMem = try lib.symbol("cuDeviceTotalMem_v2")
        cuDevicePrimaryCtxRetain = try lib.symbol("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try lib.symbol("cuDevicePrimaryCtxRelease_v2")
        cuCtxSetCurrent = try lib.symbol("cuCtxSetCurrent"); cuCtxSynchronize = try lib.symbol("cuCtxSynchronize")
        cuMemGetInfo = try lib.symbol("cuMemGetInfo_v2")
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
        cuStreamWaitEvent = try lib.symbol("cuStreamWaitEvent")
        cuModuleLoadData = try lib.symbol("cuModuleLoadData"); cuModuleGetFunction = try lib.symbol("cuModuleGetFunction")
        cuModuleUnload = try lib.symbol("cuModuleUnload"); cuLaunchKernel = try lib.symbol("cuLaunchKernel")
        cuStreamBeginCapture = try lib.symbol("cuStreamBeginCapture_v2"); cuStreamEndCapture = try lib.symbol("cuStreamEndCapture")
        cuGraphInstantiateWithFlags = try lib.symbol("cuGraphInstantiateWithFlags"); cuGraphLaunch = try lib.symbol("cuGraphLaunch")
        cuGraphExecDestroy = try lib.symbol("cuGraphExecDestroy"); cuGraphDestroy = try lib.symbol("cuGraphDestroy")
        cuGetErrorName = try lib.symbol("cuGetErrorName"); cuGetErrorString = try lib.symbol("cuGetErrorString")
    }

    /// libcuda from `HALFPIPE_CUDA_LIBRARY_PATH`, the standard folders or the loader's search.
    static func load() throws(CUDAError) -> DriverAPI {
        let library = try CUDALibraries.open(CUDALibraries.driverNames, what: "the CUDA driver (libcuda.so.1)")
        return try CUDALibraries.declarations(in: library) { (lib) throws(DynamicLibraryError) in try DriverAPI(lib) }
    }

    /// The one CUresult → error function: CUDA's own name and text for the code, classified by the
    /// kinds callers act on (`CUDAError.driver`).
    func check(_ code: CUResult, _ function: @autoclosure () -> String) throws(CUDAError) {
        guard code != 0 else { return }
        var name: UnsafePointer<CChar>?, text: UnsafePointer<CChar>?
        // Both return CUDA_ERROR_INVALID_VALUE for a code they do not know, leaving the pointers nil.
        _ = cuGetErrorName(code, &name)
        _ = cuGetErrorString(code, &text)
        throw CUDAError.driver(code, function: function(), name: name.map { String(cString: $0) }, message: text.map { String(cString: $0) })
    }

    /// `cuDeviceGetName` into a Swift string (the driver writes a NUL-terminated name).
    func deviceName(_ device: Int32) throws(CUDAError) -> String {
        var name = [CChar](repeating: 0, count: 256)
        try check(cuDeviceGetName(&name, Int32(name.count - 1), device), "cuDeviceGetName")
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// cuLaunchKernel takes each argument by the address of its bytes: the bytes are copied into
    /// 8-byte aligned cells that live for the call only, which is enough: the driver copies the
    /// arguments before it returns.
    func launchKernel(_ function: Handle, grid: (Int, Int, Int), block: (Int, Int, Int), stream: Handle, arguments: [[UInt8]]) -> CUResult {
        // Structures passed by value take several cells.
        let offsets = arguments.reduce(into: [0]) { $0.append($0.last! + ($1.count + 7) / 8 * 8) }
        let cells = UnsafeMutableRawPointer.allocate(byteCount: max(offsets.last!, 8), alignment: 16)
        defer { cells.deallocate() }
        var pointers: [UnsafeMutableRawPointer?] = []
        for (i, bytes) in arguments.enumerated() {
            let cell = cells.advanced(by: offsets[i])
            bytes.withUnsafeBytes { if $0.count > 0 { cell.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            pointers.append(cell)
        }
        return pointers.withUnsafeMutableBufferPointer { params in
            cuLaunchKernel(function, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1), UInt32(block.2),
                           0, stream, params.baseAddress, nil)
        }
    }
}
