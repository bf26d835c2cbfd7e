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

/// Where a model runs: ONNX Runtime on the CPU today, our CUDA engine later. Mixed-precision
/// search, calibration, `compare`, `bench` and the pipeline see only this protocol.
public protocol Session: AnyObject {
    var inputs: [TensorDescription] { get }
    var outputs: [TensorDescription] { get }
    /// Runs the model on `inputs` (by input name); returns every output by name.
    func run(_ inputs: [String: Tensor]) throws -> [String: Tensor]
}
