import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A shared library loaded at run time with `dlopen`: ONNX Runtime, the CUDA driver, NVRTC,
/// cuBLASLt, cuDNN, GStreamer. The one loader every run-time library goes through, so the search,
/// the failure messages and symbol lookup are the same everywhere; each C layer turns
/// `DynamicLibraryError` into its own typed error with its own install hint.
public struct DynamicLibrary: @unchecked Sendable {
    /// The path (or bare name) that loaded.
    public let path: String
    private let handle: UnsafeMutableRawPointer

    /// The first of `candidates` (paths, or bare names for the system loader's search) that loads.
    /// The library stays loaded for the life of the process: sessions and modules may outlive us.
    public static func open(_ candidates: [String]) throws(DynamicLibraryError) -> DynamicLibrary {
        var reasons: [String] = []
        for path in candidates {
            if let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) { return DynamicLibrary(path: path, handle: handle) }
            reasons.append(dlerror().map { String(cString: $0) } ?? "\(path): cannot be loaded")
        }
        throw DynamicLibraryError(kind: .notFound, library: candidates.first ?? "", symbol: nil, tried: candidates, reason: reasons.last ?? "no candidates")
    }

    /// The address of `name` (or of `fallback`, for a symbol renamed between versions), typed as
    /// the C function declaration `F` the caller wrote for it.
    public func symbol<F>(_ name: String, orElse fallback: String? = nil, as type: F.Type = F.self) throws(DynamicLibraryError) -> F {
        guard let address = dlsym(handle, name) ?? fallback.flatMap({ dlsym(handle, $0) }) else {
            throw DynamicLibraryError(kind: .missingSymbol, library: path, symbol: name, tried: [path], reason: "\(path) has no symbol \(name)")
        }
        return unsafeBitCast(address, to: F.self)
    }

    /// Whether the library exports `name` (optional entry points of newer versions).
    public func has(_ name: String) -> Bool { dlsym(handle, name) != nil }

    /// `candidates` names in `folders` that exist, then the bare names for the loader's own search.
    public static func candidates(_ names: [String], in folders: [String]) -> [String] {
        folders.flatMap { folder in names.map { "\(folder)/\($0)" } }.filter { FileManager.default.fileExists(atPath: $0) } + names
    }
}

/// A library that could not be loaded, or lacks a symbol we declare.
public struct DynamicLibraryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, missingSymbol }
    public let kind: Kind
    public let library: String
    public let symbol: String?
    /// Every path tried, in order.
    public let tried: [String]
    /// The loader's last message.
    public let reason: String

    public var description: String {
        switch kind {
        case .notFound: "\(library) not found (tried \(tried.joined(separator: ", "))): \(reason)"
        case .missingSymbol: "\(reason) (a version too old?)"
        }
    }
}
