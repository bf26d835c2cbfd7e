import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// CUDA C compiled at run time by NVRTC for the device's architecture, cached on disk by (source
/// hash, architecture, NVRTC version) so a kernel compiles once per machine, and loaded with
/// cuModuleLoadData.
public final class KernelCompiler: @unchecked Sendable {
    public let context: CUDAContext
    /// nil: no disk cache (compile every time).
    public let cacheDirectory: String?

    public static let cacheVariable = "HALFPIPE_KERNEL_CACHE"

    public static var defaultCacheDirectory: String? {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment[cacheVariable] { return dir.isEmpty ? nil : dir }
        return environment["HOME"].map { $0 + "/.cache/halfpipe/kernels" }
    }

    public init(context: CUDAContext, cacheDirectory: String? = KernelCompiler.defaultCacheDirectory) {
        self.context = context
        self.cacheDirectory = cacheDirectory
    }

    /// The cache file name for a kernel: everything that changes the binary is in it.
    public static func cacheKey(source: String, architecture: String, nvrtcVersion: (Int, Int)) -> String {
        // FNV-1a, 64 bits: stable across runs and machines (Swift's Hasher is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in source.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + "-\(architecture)-nvrtc\(nvrtcVersion.0).\(nvrtcVersion.1).cubin"
    }

    /// The module for `source`: from the cache when it holds one, else compiled (and stored).
    public func module(source: String, name: String) throws(CUDAError) -> CUDAModule {
        let nvrtc = try context.cuda.nvrtc()
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtc.nvrtcVersion(&major, &minor)
        let key = Self.cacheKey(source: source, architecture: context.device.architecture, nvrtcVersion: (Int(major), Int(minor)))
        let path = cacheDirectory.map { $0 + "/" + key }
        if let path, let cached = try? FileBytes.read(path), !cached.isEmpty {
            return try CUDAModule(context: context, image: [UInt8](cached), name: name)
        }
        let binary = try Self.compile(source: source, name: name, architecture: context.device.architecture, nvrtc: nvrtc)
        if let path, let dir = cacheDirectory {
            // A cache that cannot be written only costs the next run a compile.
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try? FileBytes.writeAtomically(Data(binary), to: path)
        }
        return try CUDAModule(context: context, image: binary, name: name)
    }

    static func compile(source: String, name: String, architecture: String, nvrtc: NVRTCAPI) throws(CUDAError) -> [UInt8] {
        func check(_ code: Int32, _ function: String, log: String? = nil) throws(CUDAError) {
            guard code != 0 else { return }
            let text = nvrtc.nvrtcGetErrorString(code).map { String(cString: $0) } ?? "NVRTC error \(code)"
            throw CUDAError(log == nil ? .call : .compile, function: function, code: code, codeName: text, message: "compiling \(name) for \(architecture)", log: log)
        }
        var program: OpaquePointer?
        try check(nvrtc.nvrtcCreateProgram(&program, source, name + ".cu", 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = nvrtc.nvrtcDestroyProgram(&program) }
        let options = ["--gpu-architecture=\(architecture)", "--std=c++17", "-default-device"]
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let pointers = cOptions.map { UnsafePointer<CChar>($0) }
        let compiled = pointers.withUnsafeBufferPointer { nvrtc.nvrtcCompileProgram(program, Int32(options.count), $0.baseAddress) }
        if compiled != 0 {
            var size = 0
            _ = nvrtc.nvrtcGetProgramLogSize(program, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            _ = nvrtc.nvrtcGetProgramLog(program, &log)
            try check(compiled, "nvrtcCompileProgram", log: String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var size = 0
        try check(nvrtc.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
        var binary = [CChar](repeating: 0, count: size)
        try check(nvrtc.nvrtcGetCUBIN(program, &binary), "nvrtcGetCUBIN")
        return binary.map { UInt8(bitPattern: $0) }
    }
}

/// A loaded module of compiled kernels.
public final class CUDAModule: @unchecked Sendable {
    public let context: CUDAContext
    let handle: Handle
    let name: String

    init(context: CUDAContext, image: [UInt8], name: String) throws(CUDAError) {
        self.context = context
        self.name = name
        try context.makeCurrent()
        var module: Handle?
        let code = image.withUnsafeBytes { context.cuda.driver.cuModuleLoadData(&module, $0.baseAddress) }
        try context.cuda.check(code, "cuModuleLoadData(\(name))")
        handle = module!
    }

    deinit {
        try? context.makeCurrent()
        _ = context.cuda.driver.cuModuleUnload(handle)
    }

    public func function(_ name: String) throws(CUDAError) -> CUDAFunction {
        try context.makeCurrent()
        var f: Handle?
        try context.cuda.check(context.cuda.driver.cuModuleGetFunction(&f, handle, name), "cuModuleGetFunction(\(name))")
        return CUDAFunction(module: self, handle: f!, name: name)
    }
}

/// A kernel's typed arguments, passed by value as cuLaunchKernel wants (an array of pointers to them).
public enum KernelArgument: Sendable {
    case pointer(UInt64)
    case int32(Int32)
    case int64(Int64)
    case float(Float)

    var bytes: [UInt8] {
        switch self {
        case .pointer(let p): withUnsafeBytes(of: p) { Array($0) }
        case .int32(let v): withUnsafeBytes(of: v) { Array($0) }
        case .int64(let v): withUnsafeBytes(of: v) { Array($0) }
        case .float(let v): withUnsafeBytes(of: v) { Array($0) }
        }
    }
}

public struct CUDAFunction: @unchecked Sendable {
    let module: CUDAModule
    let handle: Handle
    public let name: String

    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), on stream: CUDAStream, _ arguments: [KernelArgument]) throws(CUDAError) {
        let context = module.context
        try context.makeCurrent()
        let storage = arguments.map { arg -> UnsafeMutableRawPointer in
            let bytes = arg.bytes
            let p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return p
        }
        defer { storage.forEach { $0.deallocate() } }
        var pointers: [UnsafeMutableRawPointer?] = storage
        let code = pointers.withUnsafeMutableBufferPointer { params in
            context.cuda.driver.cuLaunchKernel(handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1), UInt32(block.2),
                                               0, stream.handle, params.baseAddress, nil)
        }
        try context.cuda.check(code, "cuLaunchKernel(\(name))")
    }
}
