import Inference
import Testing

/// `--device` is parsed in one place: every spelling the help names, every one it does not, and
/// resolution against the GPUs a machine has.
@Suite struct DeviceSelectionTests {
    @Test(arguments: [
        ("cpu", DeviceSelection.one(.cpu)), ("CPU", .one(.cpu)), ("cuda", .one(.cuda(0))), ("cuda:0", .one(.cuda(0))),
        ("cuda:3", .one(.cuda(3))), ("CUDA:12", .one(.cuda(12))), ("cuda:all", .allCUDA), ("Cuda:ALL", .allCUDA),
    ])
    func parsesEverySpelling(text: String, expected: DeviceSelection) throws {
        #expect(try DeviceSelection(parsing: text) == expected)
    }

    @Test(arguments: ["gpu", "", "cuda:", "cuda:-1", "cuda:+1", "cuda:x", "cuda:1:2", "cpu:0", "cudaall", "cuda:al", " cuda", "tensorrt"])
    func refusesAnythingElseWithOneLine(text: String) {
        #expect(throws: InferenceError.self) { try DeviceSelection(parsing: text) }
        do { _ = try DeviceSelection(parsing: text) } catch {
            #expect(error.description.hasPrefix("--device \(text): use cpu, cuda, cuda:N"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func resolvesAgainstTheGPUsPresent() throws {
        #expect(try DeviceSelection.one(.cpu).resolve(gpuCount: 0) == [.cpu])
        #expect(try DeviceSelection.one(.cuda(0)).resolve(gpuCount: 1) == [.cuda(0)])
        #expect(try DeviceSelection.allCUDA.resolve(gpuCount: 2) == [.cuda(0), .cuda(1)])
        for (n, count) in [(7, 1), (1, 1), (2, 2), (0, 0)] {
            #expect(throws: InferenceError.self) { try DeviceSelection.one(.cuda(n)).resolve(gpuCount: count) }
        }
        do { _ = try DeviceSelection.one(.cuda(7)).resolve(gpuCount: 1) } catch {
            #expect(error.description == "--device cuda:7: this machine has 1 CUDA device (cuda:0)")
        }
        do { _ = try DeviceSelection.one(.cuda(2)).resolve(gpuCount: 2) } catch {
            #expect(error.description == "--device cuda:2: this machine has 2 CUDA devices (cuda:0…cuda:1)")
        }
        #expect(throws: InferenceError.self) { try DeviceSelection.allCUDA.resolve(gpuCount: 0) }
    }

    @Test func devicesDescribeThemselvesAsTheyParse() throws {
        for d in [Device.cpu, .cuda(0), .cuda(5)] {
            #expect(try DeviceSelection(parsing: d.description) == .one(d))
        }
        #expect(DeviceSelection.allCUDA.description == "cuda:all")
    }
}
