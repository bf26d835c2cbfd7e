import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and atomic writes, with errors that name the file. This is the one place
/// that calls the POSIX file API; every failure becomes a `TensorError.io` with errno's text.
public enum FileBytes {
    /// Reads a file. Regular files are memory-mapped: bytes are read from disk only when touched,
    /// so loading a 1 GB model costs nothing until its weights are used. (A file truncated while
    /// mapped would fault; HalfPipe itself only ever replaces files by rename, never in place.)
    public static func read(_ path: String) throws(TensorError) -> Data {
        try requireFile(path)
        if let mapped = map(path) { return mapped }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            // Not mappable (a pipe, /proc): read it instead, and report that attempt's error.
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw .io(path: path, reason: readableReason(error, verb: "cannot read"))
            }
        }
    }

    /// Refuses a directory (or a missing path) where a file is expected, with a message that says
    /// so, before any reader produces the platform's own text for it.
    public static func requireFile(_ path: String) throws(TensorError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .io(path: path, reason: errno == ENOENT ? "no such file" : "cannot read: \(String(cString: strerror(errno)))")
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw .io(path: path, reason: "is a directory, not a file; give the file inside it")
        }
    }

    /// Writes to a temporary file beside `path`, then renames it, so a failure leaves nothing half written.
    public static func writeAtomically(_ data: Data, to path: String) throws(TensorError) {
        try writeAtomically(chunks: [data], to: path)
    }

    /// Writes the concatenation of `chunks` atomically, straight from their buffers (no joining copy).
    /// `commitIf` runs once the bytes are written, before the file takes its name: false abandons
    /// the write (nothing left behind) and the call returns false.
    @discardableResult
    public static func writeAtomically(chunks: [Data], to path: String, commitIf: () -> Bool = { true }) throws(TensorError) -> Bool {
        let file = try AtomicFile(path)
        do throws(TensorError) {
            try file.reserve(chunks.reduce(0) { $0 + $1.count })
            for chunk in chunks {
                #if os(Linux)
                // Weights written unchanged straight from the model file's mapping (kept float32,
                // integer, already narrow): map their pages in one call first. Faulting them in from
                // inside write() cost 5 ms on MiniLM's 23 MB of INT8 weights. Advice only; errors ignored.
                if chunk.count >= 1 << 16 { advise(chunk, Int32(MADV_POPULATE_READ)) }
                #endif
                try file.append(chunk)
            }
            try file.close()
        } catch {
            file.abandon()
            throw error
        }
        guard commitIf() else {
            file.abandon()
            return false
        }
        try file.commit()
        return true
    }

    /// Maps a regular file read-only. Not populated up front: the kernel maps 16 pages of page
    /// cache per fault as they are read, which measured faster than MAP_POPULATE's page-by-page
    /// walk (ResNet-50's conversion 52 → 45 ms, VGG-19's 224 → 202 ms). Weights saved unchanged
    /// are populated just before they are written (`writeAtomically`).
    private static func map(_ path: String) -> Data? {
        #if os(Linux)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 0 else { return nil }
        let size = Int(info.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { return nil }
        let start = UInt(bitPattern: base)
        mappedRegions.withLock { $0[start] = UInt(size) }
        return Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in
            mappedRegions.withLock { _ = $0.removeValue(forKey: UInt(bitPattern: pointer)) }
            munmap(pointer, count)
        })
        #else
        return nil
        #endif
    }

    /// Read-only file mappings made by `map`, by start address: only their pages may be dropped.
    private static let mappedRegions = Mutex<[UInt: UInt]>([:])

    /// Lets the kernel drop the resident pages under `data` when it lies in a read-only file mapping
    /// of `read` (a weight already converted, a folded layer's old weights). The bytes stay valid:
    /// touching them again reads them back from the page cache. Anything else is left alone, since
    /// dropping anonymous memory would zero it. Keeps a conversion's peak memory near model + output.
    public static func releasePages(of data: Data) {
        advise(data, Int32(MADV_DONTNEED))
    }

    /// `madvise` over the whole pages of `data` when it lies in a read-only file mapping of `read`.
    private static func advise(_ data: Data, _ advice: Int32) {
        #if os(Linux)
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            let start = UInt(bitPattern: base), end = start + UInt(raw.count)
            let inMapping = mappedRegions.withLock { regions in
                regions.contains { start >= $0.key && end <= $0.key + $0.value }
            }
            guard inMapping else { return }
            let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
            let first = (start + page - 1) / page * page, last = end / page * page
            guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
            _ = madvise(pointer, Int(last - first), advice)
        }
        #endif
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func readableReason(_ error: any Error, verb: String) -> String {
        if let e = error as? CocoaError {
            switch e.code {
            case .fileReadNoSuchFile, .fileNoSuchFile: return "\(verb): no such file"
            case .fileReadNoPermission, .fileWriteNoPermission: return "\(verb): permission denied"
            default: break
            }
        }
        return "\(verb): \(error)"
    }
}
