#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whole-file reads and atomic writes, with errors that name the file.
public enum FileBytes {
    /// Reads a file; large files are memory-mapped rather than copied.
    public static func read(_ path: String) throws(TensorError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .io(path: path, reason: readableReason(error, verb: "cannot read"))
        }
    }

    /// Writes to a temporary file beside `path`, then renames it, so a failure leaves nothing half written.
    public static func writeAtomically(_ data: Data, to path: String) throws(TensorError) {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .io(path: path, reason: readableReason(error, verb: "cannot write"))
        }
    }

    static func readableReason(_ error: any Error, verb: String) -> String {
        if let e = error as? CocoaError {
            switch e.code {
            case .fileReadNoSuchFile, .fileNoSuchFile: return "\(verb): no such file"
            case .fileReadNoPermission, .fileWriteNoPermission: return "\(verb): permission denied"
            case .fileWriteOutOfSpace: return "\(verb): no space left on device"
            default: break
            }
        }
        return "\(verb): \(error)"
    }
}
