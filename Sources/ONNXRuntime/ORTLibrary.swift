import Inference
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tensors

/// ONNX Runtime's shared library, found and loaded with `dlopen` at run time, with its function
/// table and one process-wide environment. Loaded once per path; safe to share between threads.
public final class ORTLibrary: @unchecked Sendable {
    let api: ORTAPI
    let env: ORTHandle
    let cpuMemoryInfo: ORTHandle
    let allocator: ORTHandle
    /// Where the library was loaded from.
    public let path: String
    /// ORT's version string, e.g. "1.31.1".
    public var version: String { api.versionString }

    private static let loaded = Mutex<[String: ORTLibrary]>([:])
    /// Sessions alive on this library; the environment is released at exit only when none are.
    let liveSessions = Atomic<Int>(0)

    /// Finds and loads ORT: `explicitPath`, else `HALFPIPE_ORT_LIBRARY`, else the project's `.venv`,
    /// else the active Python's site-packages.
    public static func load(explicitPath: String? = nil) throws(ORTError) -> ORTLibrary {
        let path = try ORTLibraryDiscovery.find(explicitPath: explicitPath)
        let result: Result<ORTLibrary, ORTError> = loaded.withLock { cache in
            if let library = cache[path] { return .success(library) }
            do {
                let library = try ORTLibrary(path: path)
                if cache.isEmpty { atexit { ORTLibrary.releaseEnvironmentsAtExit() } }
                cache[path] = library
                return .success(library)
            } catch let error as ORTError {
                return .failure(error)
            } catch {
                return .failure(ORTError(code: .libraryUnavailable, message: "\(error)", operation: "loading \(path)"))
            }
        }
        return try result.get()
    }

    /// ORT's environment owns its thread pools. Left alive at exit, those threads race the C++
    /// static destructors (valgrind shows reads of freed memory); released here, they are joined
    /// first. Only when no session is alive: releasing under a live session is undefined.
    private static func releaseEnvironmentsAtExit() {
        loaded.withLock { cache in
            for library in cache.values where library.liveSessions.load(ordering: .acquiring) == 0 {
                library.api.releaseMemoryInfo(library.cpuMemoryInfo)
                library.api.releaseEnv(library.env)
            }
            cache.removeAll()
        }
    }

    private init(path: String) throws(ORTError) {
        self.path = path
        let operation = "loading ONNX Runtime from \(path)"
        let getApiBase: @convention(c) () -> UnsafeRawPointer?
        do {
            getApiBase = try DynamicLibrary.open([path]).symbol("OrtGetApiBase")
        } catch {
            throw ORTError(code: .libraryUnavailable, message: error.kind == .missingSymbol ? "no OrtGetApiBase symbol: not an ONNX Runtime library" : error.reason,
                           operation: operation)
        }
        // OrtApiBase is two function pointers: GetApi(version) and GetVersionString().
        guard let base = getApiBase()?.assumingMemoryBound(to: UnsafeRawPointer?.self),
              let getApiPointer = base[0], let versionPointer = base[1] else {
            throw ORTError(code: .libraryUnavailable, message: "OrtGetApiBase returned nothing", operation: operation)
        }
        let getApi = unsafeBitCast(getApiPointer, to: (@convention(c) (UInt32) -> UnsafeRawPointer?).self)
        let getVersion = unsafeBitCast(versionPointer, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
        let version = getVersion().map { String(cString: $0) } ?? "?"
        guard let table = getApi(ORTAPI.requestedVersion) else {
            throw ORTError(code: .libraryUnavailable, message: "ONNX Runtime \(version) does not offer API version \(ORTAPI.requestedVersion); install onnxruntime ≥ 1.16", operation: operation)
        }
        api = ORTAPI(table: table.assumingMemoryBound(to: UnsafeRawPointer?.self), versionString: version)
        var env: ORTHandle?
        // Fatal-only logging: ORT errors reach the user once, as our ORTError, not also as log lines.
        try api.check(api.createEnv(4, "halfpipe", &env), "creating the ONNX Runtime environment")
        self.env = env!
        var memoryInfo: ORTHandle?
        try api.check(api.createCpuMemoryInfo(0, 0, &memoryInfo), "creating CPU memory info")
        cpuMemoryInfo = memoryInfo!
        var allocator: ORTHandle?
        try api.check(api.getAllocatorWithDefaultOptions(&allocator), "getting the default allocator")
        self.allocator = allocator!
        // The library stays loaded for the life of the process (sessions may outlive this object).
    }
}

extension ORTAPI {
    /// Turns an `OrtStatus*` into a thrown `ORTError` (and frees it); NULL means success.
    func check(_ status: ORTStatus?, _ operation: @autoclosure () -> String) throws(ORTError) {
        guard let status else { return }
        let code = ORTError.Code(rawValue: getErrorCode(status)) ?? .fail
        let message = getErrorMessage(status).map { String(cString: $0) } ?? "(no message)"
        releaseStatus(status)
        throw ORTError(code: code, message: message, operation: operation())
    }
}
