import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// Output paths that would overwrite the input are refused before anything is written.
enum OutputPath {
    static func same(_ x: String, _ y: String) -> Bool {
        let a = URL(fileURLWithPath: x).standardizedFileURL.path, b = URL(fileURLWithPath: y).standardizedFileURL.path
        return a == b || (realPath(a) != nil && realPath(a) == realPath(b))
    }

    /// Refuses outputs that would replace the input model or the external-data file it reads
    /// (`<output>.data`, written with --external-data), and a report written over either.
    static func refuseOverwrite(input: String, output: String, report: String?) throws {
        if same(input, output) {
            throw CLIError("-o \(output) is the input model; write the converted model to another file (the input is never overwritten)")
        }
        if let report, same(report, input) || same(report, output) {
            throw CLIError("--report \(report) would overwrite \(same(report, input) ? "the input model" : "the converted model"); give another path")
        }
        // The data file our save would write beside the output; if the input names it, it is the input's.
        let dataFile = URL(fileURLWithPath: output).lastPathComponent + ".data"
        let dataPath = URL(fileURLWithPath: output).deletingLastPathComponent().appendingPathComponent(dataFile).path
        let inputDirectory = URL(fileURLWithPath: input).deletingLastPathComponent().path
        if FileManager.default.fileExists(atPath: dataPath), same(URL(fileURLWithPath: dataPath).deletingLastPathComponent().path, inputDirectory),
           let bytes = try? FileBytes.read(input), bytes.firstRange(of: Array(dataFile.utf8)) != nil {
            throw CLIError("-o \(output) would replace \(dataPath), the external data of the input model; write the converted model elsewhere")
        }
    }

    /// Refuses, before any work, an output whose folder does not exist or cannot be written (a
    /// whole run would otherwise end in "cannot write"). `folder`: the path is itself a folder to
    /// create (annotated pictures), so its parent must be writable.
    static func requireWritable(_ path: String, option: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory else {
            throw CLIError("\(option) \(path): the folder \(folder) does not exist; create it or write elsewhere")
        }
        guard access(folder, W_OK) == 0 else {
            throw CLIError("\(option) \(path): the folder \(folder) is not writable; write elsewhere")
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
