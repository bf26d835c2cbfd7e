import ArgumentParser
import CUDAEngine
import Inference
import ONNXRuntime

/// Options of every command that runs a model: where (`--device`), and how its sessions are built.
/// `target()` resolves them once into the backend, device and options every session is made from.
struct RuntimeOptions: ParsableArguments {
    @OptionGroup var device: DeviceOptions

    @Option(help: "Intra-op threads (0: one per core).")
    var threads = 0

    @Option(help: "ONNX Runtime's graph optimization level.")
    var optimization = ORTOptions.OptimizationLevel.all

    @Option(name: .customLong("provider"), help: ArgumentHelp("ONNX Runtime execution provider, in priority order (cpu, cuda, cuda:1, tensorrt, tensorrt:1, or an ORT provider name).", valueName: "name"))
    var providers: [String] = []

    @Option(help: ArgumentHelp("libonnxruntime.so to use (else HALFPIPE_ORT_LIBRARY, .venv, site-packages).", valueName: "path"))
    var ortLibrary: String?

    /// What every backend reads.
    func sessionOptions() throws -> SessionOptions {
        guard threads >= 0 else { throw CLIError("--threads \(threads): use 0 (automatic) or a positive count") }
        return SessionOptions(intraOpThreads: threads)
    }

    /// ONNX Runtime's own options.
    func ortOptions() -> ORTOptions {
        var options = ORTOptions()
        options.optimizationLevel = optimization
        options.libraryPath = ortLibrary
        if !providers.isEmpty { options.executionProviders = providers.map(ORTOptions.ExecutionProvider.init(parsing:)) }
        return options
    }

    /// The backend that runs models on the device asked for, with these options. One device: a
    /// model runs on one GPU (`cuda:all` is for the commands that split batches). `loadingNow`
    /// false defers loading the CPU backend's library to the first session (`convert` may run none,
    /// and converts on a machine without ONNX Runtime).
    func target(loadingNow: Bool = true) throws -> ExecutionTarget {
        let devices = try device.resolve()
        guard devices.count == 1, let chosen = devices.first else {
            throw CLIError("--device \(device.device): this command runs a model on one device; give cpu, cuda or cuda:N")
        }
        return ExecutionTarget(backend: try Backends.backend(for: chosen, runtime: self, loadingNow: loadingNow), device: chosen, options: try sessionOptions())
    }
}

/// The backends this build knows, in order of preference per device: on a GPU our CUDA engine, then
/// ONNX Runtime's CUDA provider (where the library has one); on the CPU, ONNX Runtime.
enum Backends {
    /// Where the CUDA engine sends the nodes it has no kernel for: ONNX Runtime on the CPU, when
    /// its library loads (else the engine refuses such models, naming the node).
    static func hostFallback(libraryPath: String?) -> HostFallback? {
        let ort = ORTBackend(libraryPath: libraryPath)
        guard ort.unavailability(on: .cpu) == nil else { return nil }
        return HostFallback(ExecutionTarget(backend: ort, device: .cpu))
    }

    static func backend(for device: Device, runtime: RuntimeOptions, loadingNow: Bool = true) throws -> any Backend {
        let ort = ORTBackend(options: runtime.ortOptions())
        let candidates: [any Backend] = device.isGPU ? [CUDAEngineBackend(fallback: hostFallback(libraryPath: runtime.ortLibrary)), ort] : [ort]
        if !loadingNow && device == .cpu, let first = candidates.first { return first }
        var reasons: [String] = []
        for backend in candidates {
            guard let why = backend.unavailability(on: device) else { return backend }
            reasons.append("\(backend.name): \(why)")
        }
        if device == .cpu, let only = reasons.first { throw InferenceError.noBackend(only) }
        throw InferenceError.noBackend("--device \(device): no backend runs models there yet (\(reasons.joined(separator: "; ")))")
    }
}
