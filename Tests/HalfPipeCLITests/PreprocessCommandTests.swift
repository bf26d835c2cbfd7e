import Foundation
import Testing

@Suite struct PreprocessCommandTests {
    static func images() throws -> [String] {
        [try CLI.material("images/skimage/astronaut.png"), try CLI.material("images/skimage/rocket.jpg"), try CLI.material("images/skimage/camera.png")]
    }

    @Test func writesABatchAndThePlacements() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-pre-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("batch.npy").path, placements = dir.appendingPathComponent("p.json").path
        let r = try CLI.run(["preprocess"] + Self.images() + ["--preset", "yolo640", "--dtype", "fp16", "--batch", "4", "-o", out, "--placements", placements, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["shape"] as? [Int] == [4, 3, 640, 640])
        #expect(report["dtype"] as? String == "float16")
        let images = try #require(report["images"] as? [[String: Any]])
        // rocket.jpg is 640x427: kept at 640x427, 106 rows above, 107 below.
        let rocket = try #require(images[1]["placement"] as? [String: Any])
        #expect(rocket["resizedHeight"] as? Int == 427 && rocket["padTop"] as? Int == 106 && rocket["padBottom"] as? Int == 107)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int)
        let data = 4 * 3 * 640 * 640 * 2
        #expect(size > data && size <= data + 256, "an .npy of the batch: header plus \(data) bytes, got \(size)")
        #expect(FileManager.default.fileExists(atPath: placements))
    }

    @Test(arguments: [
        (["--preset", "yolo640", "NOFILE"], "no such file"),
        (["--preset", "nope", "IMAGES"], "unknown"),
        (["--size", "64", "--resize", "none", "IMAGES"], "does not fit"),
        (["--size", "64", "--mean", "1,2", "IMAGES"], "--mean"),
        (["--size", "64", "--std", "0", "IMAGES"], "std"),
        (["--size", "64", "--batch", "1", "IMAGES"], "--batch 1"),
        (["--size", "64", "--dtype", "float8", "IMAGES"], "--dtype"),
        (["--size", "64", "CORRUPT"], "cannot decode"),
    ])
    func badInputExitsWithCodeTwoAndWritesNothing(_ arguments: [String], _ message: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("halfpipe-pre-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let corrupt = dir.appendingPathComponent("corrupt.png")
        let png = try Data(contentsOf: URL(fileURLWithPath: Self.images()[0]))
        try png.prefix(png.count / 2).write(to: corrupt)
        let out = dir.appendingPathComponent("batch.npy").path
        let expanded = arguments.flatMap { a -> [String] in
            switch a {
            case "IMAGES": return (try? Self.images()) ?? []
            case "CORRUPT": return ((try? Self.images()) ?? []) + [corrupt.path]
            case "NOFILE": return [dir.appendingPathComponent("missing.jpg").path]
            default: return [a]
            }
        }
        let r = try CLI.run(["preprocess"] + expanded + ["-o", out])
        #expect(r.status == 2)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written on failure")
    }

}

/// Without a GPU (as in CI) the GPU options say so and the CPU does the work.
@Suite struct GPUFallbackCommandTests {
    @Test func cudaFallsBackToTheCPUWithAWarning() throws {
        let cuda = try CLI.run(["devices"])
        guard cuda.stdout.hasPrefix("no CUDA device") else { return }  // a GPU machine: nothing to fall back from
        #expect(cuda.status == 0)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("gpu-fallback-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let image = try CLI.material("images/skimage/rocket.jpg")
        let r = try CLI.run(["preprocess", image, "--preset", "yolo640", "--device", "cuda", "-o", out])
        #expect(r.status == 0 && r.stderr.contains("warning: --device cuda:0: no CUDA device") && r.stderr.contains("running on the CPU"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out))
        let cpuOut = out + ".cpu.npy"
        defer { try? FileManager.default.removeItem(atPath: cpuOut) }
        #expect(try CLI.run(["preprocess", image, "--preset", "yolo640", "-o", cpuOut]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: cpuOut)))
        let bad = try CLI.run(["preprocess", image, "--preset", "yolo640", "--device", "tpu", "-o", out + ".x"])
        #expect(bad.status == 2 && bad.stderr.contains("Please provide one of 'cpu', 'cuda', 'cuda:N' or 'cuda:all'"))
        let compile = try CLI.run(["devices", "--compile", image])
        #expect(compile.status == 2 && compile.stderr.contains("libcuda"), "\(compile.stderr)")
    }
}
