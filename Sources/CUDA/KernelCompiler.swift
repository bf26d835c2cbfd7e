import FoundationEssentials
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
        let architecture = context.device.architecture
        let key = Self.cacheKey(source: source, architecture: architecture, nvrtcVersion: nvrtc.version())
        let path = cacheDirectory.map { $0 + "/" + key }
        if let path, let cached = try? FileBytes.read(path), !cached.isEmpty {
            return try CUDAModule(context: context, image: [UInt8](cached), name: name)
        }
        let binary = try nvrtc.compile(source: source, name: name, architecture: architecture)
        if let path, let dir = cacheDirectory {
            // A cache that cannot be written only costs the next run a compile.
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try? FileBytes.writeAtomically(Data(binary), to: path)
        }
        return try CUDAModule(context: context, image: binary, name: name)
    }
}
