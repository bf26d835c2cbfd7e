import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name beside its destination and renamed into place only when
/// complete, so a failure or an abandoned run leaves nothing half written (and never touches an
/// existing file of that name). The one atomic writer: whole files (`FileBytes.writeAtomically`)
/// and streams (`detect`'s JSON lines) both go through it.
public final class AtomicFile {
    public let path: String
    private let temporary: String
    private var descriptor: Int32
    private var finished = false

    /// Creates the temporary file.
    /// - Throws: `TensorError.io` naming `path` when it cannot be created (a missing folder, no permission).
    public init(_ path: String) throws(TensorError) {
        self.path = path
        temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(path: path, reason: "cannot write: \(FileBytes.errnoText())") }
    }

    deinit { abandon() }

    /// Reserves `bytes` at once (large files): the filesystem need not allocate block by block, and
    /// a full disk is an error before any byte is written.
    public func reserve(_ bytes: Int) throws(TensorError) {
        #if os(Linux)
        guard bytes > 1 << 20 else { return }
        let status = posix_fallocate(descriptor, 0, off_t(bytes))
        if status != 0 && status != EOPNOTSUPP && status != EINVAL { throw .io(path: path, reason: "cannot write: \(String(cString: strerror(status)))") }
        #endif
    }

    /// Appends `data`.
    public func append(_ data: Data) throws(TensorError) {
        let failure: String? = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(descriptor, raw.baseAddress! + offset, min(raw.count - offset, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    return FileBytes.errnoText()
                }
                offset += n
            }
            return nil
        }
        if let failure { throw .io(path: path, reason: "cannot write: \(failure)") }
    }

    public func append(_ text: String) throws(TensorError) { try append(Data(text.utf8)) }

    /// Closes the file, still under its temporary name.
    public func close() throws(TensorError) {
        guard descriptor >= 0 else { return }
        let status = closeDescriptor(descriptor)
        descriptor = -1
        if status != 0 { throw .io(path: path, reason: "cannot write: \(FileBytes.errnoText())") }
    }

    /// Closes the file and gives it its name.
    public func commit() throws(TensorError) {
        do throws(TensorError) {
            try close()
            guard rename(temporary, path) == 0 else { throw TensorError.io(path: path, reason: "cannot move the finished file into place: \(FileBytes.errnoText())") }
        } catch {
            abandon()
            throw error
        }
        finished = true
    }

    /// Removes the temporary file (a failed run).
    public func abandon() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { _ = closeDescriptor(descriptor); descriptor = -1 }
        unlink(temporary)
    }
}

/// close(2) under another name: inside `AtomicFile`, `close` is its own method.
private func closeDescriptor(_ descriptor: Int32) -> Int32 { close(descriptor) }
