#if canImport(Glibc)
import Glibc
#endif
import Tensors

// NVRTC, CUDA's run-time compiler (libnvrtc), loaded with dlopen at run time: our own declarations
// of NVIDIA's documented signatures. nvrtcResult is an Int32 (0 is NVRTC_SUCCESS), nvrtcProgram an
// opaque pointer.
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

    init(_ lib: DynamicLibrary) throws(DynamicLibraryError) {
        nvrtcVersion = try lib.symbol("nvrtcVersion"); nvrtcCreateProgram = try lib.symbol("nvrtcCreateProgram")
        nvrtcCompileProgram = try lib.symbol("nvrtcCompileProgram")
        nvrtcGetProgramLogSize = try lib.symbol("nvrtcGetProgramLogSize"); nvrtcGetProgramLog = try lib.symbol("nvrtcGetProgramLog")
        nvrtcGetCUBINSize = try lib.symbol("nvrtcGetCUBINSize"); nvrtcGetCUBIN = try lib.symbol("nvrtcGetCUBIN")
        nvrtcDestroyProgram = try lib.symbol("nvrtcDestroyProgram"); nvrtcGetErrorString = try lib.symbol("nvrtcGetErrorString")
    }

    /// libnvrtc (CUDA 13, then 12) from `HALFPIPE_CUDA_LIBRARY_PATH`, the toolkit folders or the loader's search.
    static func load() throws(CUDAError) -> NVRTCAPI {
        let library = try CUDALibraries.open(CUDALibraries.nvrtcNames, what: "NVRTC (libnvrtc.so)")
        return try CUDALibraries.declarations(in: library) { (lib) throws(DynamicLibraryError) in try NVRTCAPI(lib) }
    }

    /// The one nvrtcResult → error function. `log` is the compiler's log, given for a failed
    /// compilation only: it makes the error a `.compile` one, which tells the user their source is wrong.
    func check(_ code: Int32, _ function: String, compiling what: String, log: String? = nil) throws(CUDAError) {
        guard code != 0 else { return }
        let text = nvrtcGetErrorString(code).map { String(cString: $0) } ?? "NVRTC error \(code)"
        throw CUDAError(log == nil ? .call : .compile, function: function, code: code, codeName: text, message: what, log: log)
    }

    /// NVRTC's (major, minor) version; it names the compiler in kernel cache keys.
    func version() -> (Int, Int) {
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        return (Int(major), Int(minor))
    }

    /// `source` compiled to a cubin for `architecture` ("sm_90"); a failed compilation throws with the log.
    func compile(source: String, name: String, architecture: String) throws(CUDAError) -> [UInt8] {
        let what = "compiling \(name) for \(architecture)"
        var program: OpaquePointer?
        try check(nvrtcCreateProgram(&program, source, name + ".cu", 0, nil, nil), "nvrtcCreateProgram", compiling: what)
        defer { _ = nvrtcDestroyProgram(&program) }
        let options = ["--gpu-architecture=\(architecture)", "--std=c++17", "-default-device"]
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let pointers = cOptions.map { UnsafePointer<CChar>($0) }
        let compiled = pointers.withUnsafeBufferPointer { nvrtcCompileProgram(program, Int32(options.count), $0.baseAddress) }
        if compiled != 0 {
            var size = 0
            _ = nvrtcGetProgramLogSize(program, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            _ = nvrtcGetProgramLog(program, &log)
            let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            try check(compiled, "nvrtcCompileProgram", compiling: what, log: text)
        }
        var size = 0
        try check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize", compiling: what)
        var binary = [CChar](repeating: 0, count: size)
        try check(nvrtcGetCUBIN(program, &binary), "nvrtcGetCUBIN", compiling: what)
        return binary.map { UInt8(bitPattern: $0) }
    }
}
