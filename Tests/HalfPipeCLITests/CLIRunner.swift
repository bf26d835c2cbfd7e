import Foundation
import Testing

/// Runs the real `halfpipe` binary that `swift build` put beside the tests.
enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["HALFPIPE_BINARY"] { return path }
        let testBinaryDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            testBinaryDirectory.appendingPathComponent("halfpipe").path,
            testBinaryDirectory.deletingLastPathComponent().appendingPathComponent("halfpipe").path,
            packageRoot.appendingPathComponent(".build/debug/halfpipe").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a full stderr pipe cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.001) }
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    static func material(_ relative: String) throws -> String {
        let path = packageRoot.appendingPathComponent(".cache/material/\(relative)").path
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("test material missing: \(path) — run `make test`")
            throw CocoaError(.fileNoSuchFile)
        }
        return path
    }
}

extension CLI {
    /// `text` against `Golden/<file>`, whole. With HALFPIPE_UPDATE_GOLDEN=1 the file is rewritten
    /// instead (review the diff before committing it).
    static func expectGolden(_ text: String, _ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let golden = packageRoot.appendingPathComponent("Tests/HalfPipeCLITests/Golden/\(file)")
        if ProcessInfo.processInfo.environment["HALFPIPE_UPDATE_GOLDEN"] == "1" {
            try text.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(text == expected, "\(file) changed; if intended, rerun with HALFPIPE_UPDATE_GOLDEN=1 and review the diff", sourceLocation: sourceLocation)
    }
}
