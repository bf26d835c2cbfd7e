import ArgumentParser
import CUDA
import Inference

/// `--device` for every command that runs a model or preprocesses: parsed once, here, and resolved
/// against the GPUs the CUDA driver reports. Without a driver or a GPU, a GPU request falls back
/// to the CPU with one warning (documented in each command's help); a GPU index the machine lacks
/// and a value that does not parse are errors.
struct DeviceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("cpu, cuda (= cuda:0), cuda:N, or cuda:all for every GPU. Without a CUDA driver or GPU, a GPU request runs on the CPU with a warning.", valueName: "device"))
    var device = DeviceSelection.one(.cpu)

    /// The devices to use: [.cpu], one GPU, or every GPU for `cuda:all`.
    func resolve() throws -> [Device] {
        let selection = device
        guard selection.wantsGPU else { return [.cpu] }
        let count = Result { () throws(CUDAError) in try CUDA.shared().deviceCount }
        switch count {
        case .success(let n):
            return try selection.resolve(gpuCount: n)
        case .failure(let error) where error.kind == .noDevice || error.kind == .libraryUnavailable:
            printStandardError("halfpipe: warning: --device \(device): no CUDA device (\(error.message)); running on the CPU")
            return [.cpu]
        case .failure(let error):
            throw error
        }
    }
}
