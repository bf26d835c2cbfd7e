import Inference

/// How ONNX Runtime builds a session: its graph optimization level, execution providers, library
/// and threads. An `ORTBackend` carries one; the backend-neutral `SessionOptions` a caller hands
/// the seam only set the threads. A value: copy it, change it, build another session.
public struct ORTOptions: Sendable, Equatable {
    /// ORT's graph optimization levels, by its names.
    public enum OptimizationLevel: String, Sendable, CaseIterable {
        case disabled, basic, extended, layout, all

        /// ORT's GraphOptimizationLevel value.
        var code: Int32 {
            switch self {
            case .disabled: 0
            case .basic: 1
            case .extended: 2
            case .layout: 3
            case .all: 99
            }
        }
    }

    /// An execution provider, tried in the order given; the CPU is always there as the fallback.
    public enum ExecutionProvider: Sendable, Equatable, CustomStringConvertible {
        case cpu
        /// NVIDIA GPUs through ORT's CUDA provider (needs the `onnxruntime-gpu` wheel).
        case cuda(device: Int = 0, options: [String: String] = [:])
        /// NVIDIA TensorRT through ORT's TensorRT provider (the `onnxruntime-gpu` wheel and TensorRT's libraries).
        case tensorRT(device: Int = 0, options: [String: String] = [:])
        /// Any provider the loaded library registers by name (XNNPACK, OpenVINO, …).
        case named(String, options: [String: String] = [:])

        public var description: String {
            switch self {
            case .cpu: "CPU"
            case .cuda(let device, _): "CUDA:\(device)"
            case .tensorRT(let device, _): "TensorRT:\(device)"
            case .named(let name, _): name
            }
        }

        /// Parses `cpu`, `cuda`, `cuda:1`, `tensorrt` (or `trt`), `tensorrt:1`, or a provider name.
        public init(parsing text: String) {
            let lower = text.lowercased()
            let parts = lower.split(separator: ":", maxSplits: 1)
            let device = parts.count == 2 ? Int(parts[1]) : 0
            switch (parts.first.map(String.init), device) {
            case ("cpu", _) where parts.count == 1: self = .cpu
            case ("cuda", let d?): self = .cuda(device: d)
            case ("tensorrt", let d?), ("trt", let d?): self = .tensorRT(device: d)
            default: self = .named(text)
            }
        }
    }

    public var optimizationLevel: OptimizationLevel = .all
    /// Threads for one operator; 0 lets ORT choose (one per core).
    public var intraOpThreads: Int = 0
    public var executionProviders: [ExecutionProvider] = [.cpu]
    /// Where ORT writes the model as it optimised it, if wanted.
    public var optimizedModelPath: String?
    /// An explicit runtime library (ONNX Runtime: libonnxruntime.so; else discovery:
    /// HALFPIPE_ORT_LIBRARY, .venv, site-packages).
    public var libraryPath: String?

    public init() {}

    /// ORT's defaults with what the seam's options set.
    public init(_ common: SessionOptions) { self = ORTOptions().merged(common) }

    /// These options with what the seam's options set.
    func merged(_ common: SessionOptions) -> ORTOptions {
        var options = self
        options.intraOpThreads = common.intraOpThreads
        return options
    }
}
