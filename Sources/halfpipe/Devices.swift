import ArgumentParser
import CUDA
import FoundationEssentials
import Tensors

/// `halfpipe devices`: the GPUs CUDA sees, and (with --compile) whether NVRTC compiles a kernel file
/// for them, with the compiler's log when it does not.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the CUDA devices and check run-time kernel compilation.",
        discussion: """
            Without a GPU or the CUDA driver it says so and exits 0 (HalfPipe then works on the CPU).

            Examples:
              halfpipe devices
              halfpipe devices --compile my_kernel.cu
            """
    )

    @Option(help: ArgumentHelp("Compile this CUDA C file with NVRTC for device 0 (no cache) and report.", valueName: "file.cu"))
    var compile: String?

    func run() throws {
        let cuda: CUDA
        do { cuda = try CUDA.shared() } catch {
            guard compile == nil else { throw error }
            print("no CUDA device: \(error.message)")
            return
        }
        print("CUDA driver \(cuda.driverVersion / 1000).\(cuda.driverVersion % 1000 / 10), \(cuda.deviceCount) device(s)")
        for i in 0..<cuda.deviceCount { print("  \(try cuda.device(i))") }
        if let compile {
            let source = String(decoding: try FileBytes.read(compile), as: UTF8.self)
            let context = try CUDAContext(device: 0)
            _ = try KernelCompiler(context: context, cacheDirectory: nil).module(source: source, name: compile)
            print("\(compile): compiled for \(context.device.architecture)")
        }
    }
}
