import Foundation
import Testing

/// `halfpipe run` through the real binary.
@Suite struct RunCommandTests {
    let classifier = "models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"

    @Test func runsARealModelAndWritesAnNpz() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).npz").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["run", try CLI.material(classifier), "--random", "--shape", "x=2x3x48x192", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("save_infer_model/scale_0.tmp_1: float [2, 2]"))
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test(arguments: [
        (["--random"], "has symbolic dimensions; give them with --shape x="),
        (["--random", "--shape", "x=1x3x48x192", "--provider", "cuda"], "install the `onnxruntime-gpu` wheel"),
        (["--random", "--shape", "x=1x3x48x192", "--provider", "tensorrt"], "TensorRT execution provider is not enabled in this build"),
        (["--random", "--shape", "y=1x3x48x192"], "the model has no input 'y'"),
        (["--input", "x"], "--input x: write it as name=file.npy"),
        ([], "input 'x' is missing"),
    ])
    func badInputExitsWithCodeTwo(_ extra: [String], _ message: String) throws {
        let r = try CLI.run(["run", try CLI.material(classifier)] + extra)
        #expect(r.status == 2)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test func missingModelExitsWithCodeTwo() throws {
        let r = try CLI.run(["run", "/nonexistent/model.onnx", "--random"])
        #expect(r.status == 2)
        #expect(r.stderr == "halfpipe: error: loading the model: /nonexistent/model.onnx: no such file\n", "\(r.stderr)")
    }

    /// A folder where the model file belongs, and --device values that are not devices: one line
    /// each, exit code 2 (a GPU request without a driver runs on the CPU with one warning).
    @Test func directoriesAndBadDevicesAreOneLineErrors() throws {
        let folder = FileManager.default.temporaryDirectory.path
        for (arguments, message) in [
            (["run", folder, "--random"], "halfpipe: error: loading the model: \(folder): is a directory, not a file; give the file inside it\n"),
            (["bench", folder], "halfpipe: error: loading the model: \(folder): is a directory, not a file; give the file inside it\n"),
            (["convert", folder, "-o", folder + "/x.onnx", "--to", "fp16"], "halfpipe: error: \(folder): is a directory, not a file; give the file inside it\n"),
            (["inspect", folder], "halfpipe: error: \(folder): is a directory, not a file; give the file inside it\n"),
            (["run", "m.onnx", "--device", "gpu"], "halfpipe: error: The value 'gpu' is invalid for '--device <device>'. Please provide one of 'cpu', 'cuda', 'cuda:N' or 'cuda:all'.\n"),
            (["bench", "m.onnx", "--device", "cuda:x"], "halfpipe: error: The value 'cuda:x' is invalid for '--device <device>'. Please provide one of 'cpu', 'cuda', 'cuda:N' or 'cuda:all'.\n"),
        ] {
            let r = try CLI.run(arguments)
            #expect(r.status == 2, "\(arguments): \(r.stderr)")
            #expect(r.stderr == message, "\(arguments)")
        }
    }

    /// Without a CUDA driver, --device cuda:N runs on the CPU, says so once, and gives the CPU's outputs.
    @Test func gpuRequestWithoutADriverRunsOnTheCPUWithOneWarning() throws {
        let devices = try CLI.run(["devices"])
        guard devices.stdout.hasPrefix("no CUDA device") else { return }  // a GPU machine: nothing to fall back from
        let model = try CLI.material("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let r = try CLI.run(["run", model, "--random", "--shape", "x=1x3x48x192", "--device", "cuda:7"])
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n")
        #expect(warnings.count == 1 && warnings[0].hasPrefix("halfpipe: warning: --device cuda:7: no CUDA device") && warnings[0].hasSuffix("running on the CPU"), "\(r.stderr)")
        #expect(r.stdout == (try CLI.run(["run", model, "--random", "--shape", "x=1x3x48x192"])).stdout)
    }

    /// Discovery asks the `python3` on PATH for its site-packages: a copy of the binary far from
    /// any .venv, with no HOME or VIRTUAL_ENV, finds ORT only when the venv's python3 is on PATH.
    @Test func findsONNXRuntimeThroughTheActivePython() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ortfind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("halfpipe").path
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: binary)
        let venvBin = CLI.packageRoot.appendingPathComponent(".venv/bin").path
        func run(path: String) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["run", try CLI.material(classifier), "--random", "--shape", "x=1x3x48x192"]
            process.environment = ["PATH": path, "HOME": "/nonexistent"]
            process.currentDirectoryURL = dir
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(try run(path: "\(venvBin):/usr/bin:/bin") == 0, "the venv's python3 names the site-packages holding onnxruntime")
        #expect(try run(path: "/nonexistent") == 2, "no python3, no ORT: the not-found error")
    }
}
