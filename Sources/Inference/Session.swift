import FoundationEssentials
import ONNX
import Tensors

/// The name, element type and shape a model declares for one of its inputs or outputs.
public struct TensorDescription: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    /// nil when the value is not a tensor (a sequence or map) or its type is unknown.
    public var elementType: DType?
    /// One entry per axis: the size, or nil for a symbolic or unknown dimension.
    public var dimensions: [Int?]
    /// The symbolic name of each axis ("batch"), where the model gives one.
    public var symbols: [String?]

    public init(name: String, elementType: DType?, dimensions: [Int?], symbols: [String?]) {
        self.name = name
        self.elementType = elementType
        self.dimensions = dimensions
        self.symbols = symbols
    }

    /// `x: float[batch, 3, 640, 640]`.
    public var description: String {
        let dims = dimensions.indices.map { i in dimensions[i].map(String.init) ?? symbols[i].flatMap { $0.isEmpty ? nil : $0 } ?? "?" }
        return "\(name): \(elementType?.name ?? "?")[\(dims.joined(separator: ", "))]"
    }
}

/// Where one run's time goes: handing the inputs over, the backend's inference, taking the outputs.
public struct RunTimings: Sendable, Codable, Equatable {
    public var inputsMs: Double
    public var inferenceMs: Double
    public var outputsMs: Double

    public init(inputsMs: Double, inferenceMs: Double, outputsMs: Double) {
        self.inputsMs = inputsMs
        self.inferenceMs = inferenceMs
        self.outputsMs = outputsMs
    }

    /// The median of each stage over `runs`.
    public static func median(_ runs: [RunTimings]) -> RunTimings? {
        guard !runs.isEmpty else { return nil }
        return RunTimings(inputsMs: Percentiles.median(runs.map(\.inputsMs)), inferenceMs: Percentiles.median(runs.map(\.inferenceMs)),
                          outputsMs: Percentiles.median(runs.map(\.outputsMs)))
    }
}

/// A model loaded by a backend on a device. `run`, `bench`, `compare`, `convert --check`, range
/// analysis, calibration, mixed-precision search and the pipeline see only this protocol; which
/// backend made it (ONNX Runtime, our CUDA engine) is the backend's business.
public protocol Session: AnyObject {
    var inputs: [TensorDescription] { get }
    var outputs: [TensorDescription] { get }
    /// Where the session computes.
    var device: Device { get }
    /// The model it was made from, for messages ("det.onnx", "<converted model>").
    var source: String { get }

    /// Runs the model on host `inputs` (by name); returns the outputs named (all when nil), also
    /// saying where the time went.
    func runMeasured(_ inputs: [String: Tensor], outputNames: [String]?) throws -> (outputs: [String: Tensor], timings: RunTimings)

    /// Runs a model whose inputs or outputs include sequences or optionals.
    func run(values: [String: SessionValue], outputNames: [String]?) throws -> [String: SessionValue]

    /// Binds inputs and pre-allocated outputs once, for repeated runs without copies or allocation
    /// (ORT's I/O binding; device-resident buffers on a GPU backend).
    func bind(inputs: [String: Tensor], outputShapes: [String: Shape]) throws -> any BoundRun
}

extension Session {
    /// Runs the model on `inputs` (by input name); returns every output by name.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] { try runMeasured(inputs, outputNames: nil).outputs }

    public func run(_ inputs: [String: Tensor], outputNames: [String]?) throws -> [String: Tensor] {
        try runMeasured(inputs, outputNames: outputNames).outputs
    }

    public func runMeasured(_ inputs: [String: Tensor]) throws -> (outputs: [String: Tensor], timings: RunTimings) {
        try runMeasured(inputs, outputNames: nil)
    }
}

/// Inputs and outputs bound to a session once: each `run` reads the bound inputs where they live
/// and writes the outputs in place. The values stay on the session's device between runs (a GPU
/// backend's outputs are device buffers a next stage can read without a copy to the host).
public protocol BoundRun: AnyObject {
    var device: Device { get }
    /// Runs with the bound values.
    func run() throws
    /// Replaces a bound input's values (same shape and type), copying them to the device if needed.
    func write(input name: String, from tensor: Tensor) throws
    /// An output's current values on the host (a copy from the device where it lives elsewhere).
    func read(output name: String) throws -> Tensor
}

extension TensorDescription {
    /// A graph input or output as a session describes it: a dimension ≤ 0 is symbolic, as Paddle
    /// writes it (-1), and a named one keeps its name.
    public init(_ value: ValueInfo) {
        let shape = value.shape ?? []
        self.init(name: value.name, elementType: value.elementType,
                  dimensions: shape.map { if case .fixed(let n) = $0, n > 0 { n } else { nil } },
                  symbols: shape.map { if case .symbol(let s) = $0 { s } else { nil } })
    }
}
