import FoundationEssentials
import Tensors

/// Where CUDA's libraries are looked for, and how the shared loader's failures read for CUDA:
/// `HALFPIPE_CUDA_LIBRARY_PATH`'s folders, the standard toolkit and driver folders, then the
/// loader's own search by name. Every failure is `CUDAError.libraryUnavailable`, which callers turn
/// into a CPU fallback, with the hint that fixes it.
enum CUDALibraries {
    static let pathVariable = "HALFPIPE_CUDA_LIBRARY_PATH"

    static let driverNames = ["libcuda.so.1", "libcuda.so"]
    static let nvrtcNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
    static let cudnnNames = ["libcudnn.so.9", "libcudnn.so"]

    static func folders() -> [String] {
        var folders = (ProcessInfo.processInfo.environment[pathVariable] ?? "").split(separator: ":").map(String.init)
        folders += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]
        // Newest toolkit first: /usr/local/cuda-13.0 before cuda-12.8.
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/local")) ?? [])
            .filter { $0.hasPrefix("cuda-") }.sorted().reversed()
        for v in versioned { folders += ["/usr/local/\(v)/lib64", "/usr/local/\(v)/targets/x86_64-linux/lib"] }
        folders += ["/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib64", "/usr/lib/wsl/lib"]
        return folders
    }

    /// The first of `names` found in `folders()` (or by the loader) that loads; `what` names it for people.
    static func open(_ names: [String], what: String) throws(CUDAError) -> DynamicLibrary {
        try open(candidates: DynamicLibrary.candidates(names, in: folders()), what: what)
    }

    static func open(candidates: [String], what: String) throws(CUDAError) -> DynamicLibrary {
        do { return try DynamicLibrary.open(candidates) } catch { throw cudaError(error, what: what) }
    }

    /// A library's declarations (`DriverAPI(lib)`), a missing symbol reported as CUDA's error.
    static func declarations<API>(in library: DynamicLibrary, _ make: (DynamicLibrary) throws(DynamicLibraryError) -> API) throws(CUDAError) -> API {
        do { return try make(library) } catch { throw cudaError(error, what: library.path) }
    }

    /// The loader's failure as CUDA's, with the hint that fixes it.
    static func cudaError(_ error: DynamicLibraryError, what: String) -> CUDAError {
        switch error.kind {
        case .notFound:
            CUDAError(.libraryUnavailable, function: "dlopen",
                      message: "\(what) not found (tried \(error.tried.joined(separator: ", "))); install the NVIDIA driver / CUDA toolkit, or set \(pathVariable) to the folder holding it. Last error: \(error.reason)")
        case .missingSymbol:
            CUDAError(.libraryUnavailable, function: error.symbol ?? "dlsym",
                      message: "\(error.library) has no symbol \(error.symbol ?? "?") (a driver or toolkit too old?)")
        }
    }
}
