import Inference
import FoundationEssentials

/// Where `libonnxruntime.so` can be: the places a Python install of the `onnxruntime` wheel puts it.
enum ORTLibraryDiscovery {
    static let environmentVariable = "HALFPIPE_ORT_LIBRARY"

    static func find(explicitPath: String?) throws(ORTError) -> String {
        let files = FileManager.default
        if let explicitPath {
            guard files.fileExists(atPath: explicitPath) else {
                throw ORTError(code: .libraryUnavailable, message: "no such file", operation: "loading ONNX Runtime from \(explicitPath)")
            }
            return explicitPath
        }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment[environmentVariable], !path.isEmpty {
            guard files.fileExists(atPath: path) else {
                throw ORTError(code: .libraryUnavailable, message: "\(environmentVariable)=\(path): no such file", operation: "loading ONNX Runtime")
            }
            return path
        }
        // Installed beside the binary (`make install`: PREFIX/bin/halfpipe, PREFIX/lib/halfpipe/).
        let executable = Self.executableDirectory()
        for folder in [executable.path, executable.deletingLastPathComponent().path + "/lib/halfpipe"] {
            if let found = library(in: folder) { return found }
        }
        // The project's .venv (from the working directory or beside the binary's build folder),
        // then the active virtual/conda environment, then user and system site-packages.
        var prefixes = [files.currentDirectoryPath + "/.venv"]
        var up = executable
        for _ in 0..<4 { prefixes.append(up.path + "/.venv"); up = up.deletingLastPathComponent() }
        for key in ["VIRTUAL_ENV", "CONDA_PREFIX"] { if let p = environment[key] { prefixes.append(p) } }
        for prefix in prefixes {
            if let found = libraryUnder(prefix: prefix) { return found }
        }
        // The active `python3` names its own site-packages (any layout, any prefix); ask it before
        // scanning the usual prefixes.
        for packages in PythonSitePackages.query() {
            if let found = library(inCAPI: packages + "/onnxruntime/capi") { return found }
        }
        prefixes.removeAll()
        if let home = environment["HOME"] {
            prefixes.append(home + "/.local")
            if let versions = try? files.contentsOfDirectory(atPath: home + "/.pyenv/versions") {
                prefixes += versions.sorted().map { home + "/.pyenv/versions/" + $0 }
            }
        }
        prefixes += ["/usr/local", "/usr"]
        for prefix in prefixes {
            if let found = libraryUnder(prefix: prefix) { return found }
        }
        throw ORTError(
            code: .libraryUnavailable,
            message: "libonnxruntime.so not found (looked in \(environmentVariable), beside the halfpipe binary and in its ../lib/halfpipe, ./.venv, $VIRTUAL_ENV, $CONDA_PREFIX, python3's site-packages, ~/.local, pyenv, /usr/local, /usr). "
                + "Install it with `python3 -m pip install onnxruntime` (or run `make setup` in the HalfPipe folder), "
                + "or point \(environmentVariable) or --ort-library at libonnxruntime.so",
            operation: "loading ONNX Runtime")
    }

    /// `PREFIX/lib/python3.*/site-packages/onnxruntime/capi/libonnxruntime.so*`, newest Python first.
    static func libraryUnder(prefix: String) -> String? {
        let files = FileManager.default
        for lib in ["lib", "lib64"] {
            guard let pythons = try? files.contentsOfDirectory(atPath: "\(prefix)/\(lib)") else { continue }
            for python in pythons.filter({ $0.hasPrefix("python3") }).sorted().reversed() {
                for packages in ["site-packages", "dist-packages"] {
                    if let found = library(inCAPI: "\(prefix)/\(lib)/\(python)/\(packages)/onnxruntime/capi") { return found }
                }
            }
        }
        return nil
    }

    static func library(inCAPI capi: String) -> String? { library(in: capi) }

    /// The newest `libonnxruntime.so*` in `folder`.
    static func library(in folder: String) -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return names.filter { $0.hasPrefix("libonnxruntime.so") }.sorted().last.map { folder + "/" + $0 }
    }

    /// The folder of the running binary, symbolic links resolved (a `halfpipe` found on PATH has
    /// no folder in its argv[0]; /proc/self/exe names the file itself).
    static func executableDirectory() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path).deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
    }
}
