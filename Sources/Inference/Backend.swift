import FoundationEssentials
import ONNX
import Tensors

/// Something that runs ONNX models on devices: ONNX Runtime today, our CUDA engine next. It says
/// what it can run (`supports`, the contract every partitioner and precision pass asks, as ggml's
/// `supports_op` and ORT's `GetCapability`), makes sessions, and reads its own failures back into
/// the node they name, so no caller parses a backend's error text.
public protocol Backend: Sendable {
    /// "onnxruntime", "cuda-engine".
    var name: String { get }

    /// nil when sessions can be made on `device`; else why not, as one line that says what to do.
    func unavailability(on device: Device) -> String?

    /// A cheap first filter on the node alone (op type, domain, attributes): false when this node,
    /// computing in `type`, is never refused whatever its types and shapes, so callers skip
    /// building contexts (and the type inference they need) for the common model.
    func mayRefuse(_ node: Node, computing type: DType) -> Bool

    /// Whether this backend runs `node` with the element types (and, where they matter, the
    /// shapes and constant inputs) `context` gives.
    func supports(_ node: Node, _ context: NodeContext) -> NodeSupport

    /// Loads `model` for `device`.
    func makeSession(_ model: ModelSource, device: Device, options: SessionOptions) throws -> any Session

    /// The node a session's failure names, when the failure is this backend refusing a node
    /// (an unsupported type or attribute pattern found only at run time); nil for anything else.
    func refusal(in error: any Error) -> NodeRefusal?

    /// This backend set up to run models with `needs` correctly, and a line for the user when that
    /// costs something; itself and nil where it runs them as they are.
    func adapted(to needs: ModelNeeds) -> (backend: any Backend, note: String?)
}

extension Backend {
    public func adapted(to needs: ModelNeeds) -> (backend: any Backend, note: String?) { (self, nil) }
}

/// A model to load: a file, or bytes just rewritten in memory.
public enum ModelSource: Sendable {
    case file(String)
    case bytes(Data, name: String)

    public var name: String {
        switch self {
        case .file(let path): path
        case .bytes(_, let name): name
        }
    }
}

/// What a backend is told about one node when asked whether it runs it.
public struct NodeContext: Sendable {
    /// The model's opset for the node's domain.
    public var opset: Int
    /// Element type of each input and output slot (nil: absent or unknown).
    public var inputTypes: [DType?]
    public var outputTypes: [DType?]
    /// Constant inputs (weights, Constant nodes), by slot, where known.
    public var constantInputs: [Int: Tensor]
    /// Static shapes of the inputs, by slot, where known (nil entries are symbolic dimensions).
    public var inputShapes: [Int: [Int?]]
    /// The node producing each input, by slot, where a node does (not a graph input or weight):
    /// some limits hold only in a pattern (a Resize between Transposes).
    public var inputProducers: [Int: Producer]

    /// What a backend needs to know of a neighbouring node.
    public struct Producer: Sendable, Equatable {
        public var opType: String
        /// A Transpose's `perm`.
        public var perm: [Int]?
        public init(opType: String, perm: [Int]? = nil) {
            self.opType = opType
            self.perm = perm
        }
    }

    public init(opset: Int, inputTypes: [DType?], outputTypes: [DType?], constantInputs: [Int: Tensor] = [:], inputShapes: [Int: [Int?]] = [:],
                inputProducers: [Int: Producer] = [:]) {
        self.opset = opset
        self.inputTypes = inputTypes
        self.outputTypes = outputTypes
        self.constantInputs = constantInputs
        self.inputShapes = inputShapes
        self.inputProducers = inputProducers
    }

    /// The type the node computes in: its first floating-point input or output type.
    public var computeType: DType? {
        (inputTypes + outputTypes).compactMap { $0 }.first { $0.isFloatingPoint }
    }
}

/// A backend's answer for one node.
public enum NodeSupport: Sendable, Equatable {
    case supported
    /// Refused whatever the data: keep the node in another type or run it elsewhere.
    case unsupported(String)
    /// Accepted or refused only once the backend sees the data (shapes known at run time): a caller
    /// that must be sure runs the model once, and treats the node as unsupported when it cannot.
    case decidedAtRun(String)

}

/// A node a backend refused while loading or running a model.
public struct NodeRefusal: Sendable, Equatable, CustomStringConvertible {
    /// The node's name as the backend reported it (may be empty for unnamed nodes).
    public var nodeName: String?
    public var opType: String?
    public var message: String

    public init(nodeName: String?, opType: String?, message: String) {
        self.nodeName = nodeName
        self.opType = opType
        self.message = message
    }

    public var description: String {
        "\(opType ?? "node")\(nodeName.map { " '\($0)'" } ?? ""): \(message)"
    }
}

/// A backend bound to a device with session options: what a command resolved `--device` and its
/// runtime options to, and what the library's jobs (conversion, calibration) make sessions from.
public struct ExecutionTarget {
    public var backend: any Backend
    public var device: Device
    public var options: SessionOptions

    public init(backend: any Backend, device: Device = .cpu, options: SessionOptions = SessionOptions()) {
        self.backend = backend
        self.device = device
        self.options = options
    }

    public func session(_ model: ModelSource) throws -> any Session {
        try backend.makeSession(model, device: device, options: options)
    }

    /// The target with its backend adapted to `needs` (see `Backend.adapted(to:)`).
    public func adapted(to needs: ModelNeeds) -> (target: ExecutionTarget, note: String?) {
        let (backend, note) = backend.adapted(to: needs)
        return (ExecutionTarget(backend: backend, device: device, options: options), note)
    }
}
