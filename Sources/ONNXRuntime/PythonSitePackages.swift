import Inference
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Asks the `python3` on PATH for its site-packages folders (system, user, virtual environment),
/// the places `pip install onnxruntime` put the library. Empty when there is no python3 or it
/// fails; discovery then goes on with the usual prefixes.
enum PythonSitePackages {
    static let script = "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))"

    static func query() -> [String] {
        guard let output = run(["python3", "-c", script]) else { return [] }
        return output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("/") }
    }

    /// Runs a program found on PATH and returns its standard output, or nil when it cannot start or
    /// exits non-zero. Standard error is discarded (the caller has a fallback).
    private static func run(_ arguments: [String]) -> String? {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let started = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
        close(pipe[1])
        defer { close(pipe[0]) }
        guard started == 0 else { return nil }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
            if n > 0 { bytes += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Exited normally with status 0 (the wait status's low 7 bits are the signal, bits 8-15 the code).
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
