import Dispatch
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The image files named on a command line: files as given, folders expanded to their JPEG and PNG
/// files in name order (not recursive), so a run over a folder is reproducible.
public enum ImageFiles {
    public static let extensions = ["jpg", "jpeg", "png"]

    public static func expand(_ paths: [String]) throws(ImagingError) -> [String] {
        let files = FileManager.default
        var result: [String] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw .unreadable(image: path, reason: "no such file or folder")
            }
            if (info.st_mode & S_IFMT) != S_IFDIR {
                result.append(path)
                continue
            }
            let names: [String]
            do { names = try files.contentsOfDirectory(atPath: path) } catch {
                throw .unreadable(image: path, reason: "cannot list the folder: \(error)")
            }
            let images = names.filter { name in
                guard let dot = name.lastIndex(of: ".") else { return false }
                return extensions.contains(name[name.index(after: dot)...].lowercased())
            }.sorted()
            guard !images.isEmpty else { throw .unreadable(image: path, reason: "the folder holds no .jpg, .jpeg or .png files") }
            result += images.map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
        }
        return result
    }
}

extension ImageDecoder {
    /// Decodes files concurrently; the first failure in file order is thrown.
    public func decode(files: [String]) throws(ImagingError) -> [Image] {
        let results = ResultSlots<Image>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            do throws(ImagingError) { results.set(i, .success(try decode(file: files[i]))) } catch { results.set(i, .failure(error)) }
        }
        return try results.values()
    }
}

/// One result per index, written by concurrent workers (each its own slot).
final class ResultSlots<Value: Sendable>: Sendable {
    private let slots: Mutex<[Result<Value, ImagingError>?]>

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: Result<Value, ImagingError>) {
        slots.withLock { $0[index] = value }
    }

    func values() throws(ImagingError) -> [Value] {
        let all = slots.withLock { $0 }
        return try all.map { (slot) throws(ImagingError) in try slot!.get() }
    }
}
