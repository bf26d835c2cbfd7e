import CUDA
import FoundationEssentials
import Tensors

/// How a tensor's elements lie in device memory. Rank-4 activations are NHWC inside the engine
/// (cuDNN's tensor-core kernels want channels last); everything else keeps ONNX's row-major order.
public enum StorageLayout: String, Hashable, Sendable {
    case rowMajor = "row-major"
    case nhwc = "NHWC"
}

/// One tensor of a plan: its ONNX (logical) shape, and how it is stored.
public struct PlannedTensor: Sendable, Equatable {
    public let name: String
    /// The logical shape, in ONNX's axis order (NCHW for activations).
    public let shape: [Int]
    public let layout: StorageLayout
    /// NHWC: channels as stored, the logical count rounded up where a convolution wants a multiple
    /// of 8. The extra channels are always written as zeros.
    public let storedChannels: Int
    /// float16 inside the engine; the model's own type at the edges.
    public let dtype: DType
    /// The tensor whose storage this one shares (a Reshape or Flatten is a view, not a copy).
    public let aliasOf: Int?

    public init(name: String, shape: [Int], layout: StorageLayout = .rowMajor, storedChannels: Int? = nil, dtype: DType = .float16, aliasOf: Int? = nil) {
        self.name = name
        self.shape = shape
        self.layout = layout
        self.storedChannels = storedChannels ?? (layout == .nhwc ? shape[1] : 0)
        self.dtype = dtype
        self.aliasOf = aliasOf
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Elements as stored, padding included.
    public var storedElementCount: Int { layout == .nhwc ? shape[0] * shape[2] * shape[3] * storedChannels : elementCount }
    public var byteCount: Int { storedElementCount * (dtype.byteSize ?? 2) }
    public var isPadded: Bool { layout == .nhwc && storedChannels != shape[1] }

    /// The storage stride (in elements) of each logical axis.
    public var strides: [Int] {
        switch layout {
        case .rowMajor:
            var s = [Int](repeating: 1, count: shape.count)
            for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
            return s
        case .nhwc:
            return [shape[2] * shape[3] * storedChannels, 1, shape[3] * storedChannels, storedChannels]
        }
    }

    /// Whether NHWC storage holds the elements in row-major order too (H = W = 1, no padding): then a
    /// Flatten or Reshape is a view.
    public var isRowMajorOrder: Bool { layout == .rowMajor || (shape[2] * shape[3] == 1 && !isPadded) || (shape[1] == 1 && !isPadded) }

    public var summary: String {
        "\(name): \(dtype.name)[\(shape.map(String.init).joined(separator: "×"))] \(layout.rawValue)" + (isPadded ? " (C stored as \(storedChannels))" : "")
    }
}

/// A constant the engine uploads once, in the type and layout its step reads: FP16 filters in
/// KRSC order, FP16 biases, FP32 operands of generated kernels.
public struct PlannedWeight: Sendable {
    public let name: String
    public let dtype: DType
    public let bytes: [UInt8]
    public var byteCount: Int { bytes.count }

    public init(name: String, float16 values: [Float]) {
        self.name = name
        dtype = .float16
        var bits = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in bits.withUnsafeMutableBufferPointer { FloatConversion.float32ToFloat16(src, $0) } }
        bytes = bits.withUnsafeBytes { Array($0) }
    }

    public init(name: String, float32 values: [Float]) {
        self.name = name
        dtype = .float32
        bytes = values.withUnsafeBytes { Array($0) }
    }
}

/// A convolution step: cuDNN's fused call, y = act(conv(x) + bias [+ residual]).
public struct ConvolutionStep: Sendable {
    public let geometry: ConvolutionGeometry
    public let activation: ConvolutionActivation
    public let input: Int
    public let output: Int
    public let residual: Int?
    public let filter: Int
    public let bias: Int
}

/// A product of two computed matrices (attention's Q·Kᵀ and P·V): cuBLASLt's strided batch,
/// row-major FP16 operands, FP32 accumulation.
public struct MatrixProductStep: Sendable {
    public let shape: MatrixProductShape
    public let a: Int
    public let b: Int
    public let output: Int
}

/// A step run by a kernel the engine generates (NVRTC): its arguments are the output, then the
/// inputs, then the weights, all by address; every size is compiled into the source.
public struct GeneratedStep: Sendable {
    /// What the kernel does, for `plan`: "elementwise", "max pool", "layout", …
    public let kind: String
    public let function: String
    public let source: String
    public let output: Int
    public let inputs: [Int]
    public let weights: [Int]
    /// Threads to launch (one per output element or row).
    public let threads: Int
}

/// Nodes the engine has no kernel for, run by the fallback backend (ONNX Runtime on the CPU) as a
/// small model of their own: the hybrid execution of seed 002. Its inputs and outputs are host
/// values of the run, by name.
public struct HostStep: Sendable {
    /// The serialized sub-model: the nodes, their constant inputs as initializers.
    public let model: Data
    public let nodes: [String]
    public let inputs: [String]
    public let outputs: [String]
}

/// A copy between a device tensor (FP32 or the model's type, row-major) and a host value of the run.
public struct Transfer: Sendable {
    public let toHost: Bool
    public let tensor: Int
    public let value: String
}

public enum PlanStep: Sendable {
    case convolution(ConvolutionStep)
    case matrixProduct(MatrixProductStep)
    /// ConvTranspose: cuDNN's backward-data pass of the forward convolution `geometry` (whose
    /// channels are this step's output, whose filters its input), then the bias. No activation.
    case transposedConvolution(ConvolutionStep)
    case generated(GeneratedStep)
    case host(HostStep)
    case transfer(Transfer)

    /// The device tensors the step writes.
    public var outputs: [Int] {
        switch self {
        case .convolution(let c): [c.output]
        case .matrixProduct(let m): [m.output]
        case .transposedConvolution(let c): [c.output]
        case .generated(let g): [g.output]
        case .host: []
        case .transfer(let t): t.toHost ? [] : [t.tensor]
        }
    }

    /// The device tensors the step reads.
    public var inputs: [Int] {
        switch self {
        case .convolution(let c): [c.input] + (c.residual.map { [$0] } ?? [])
        case .matrixProduct(let m): [m.a, m.b]
        case .transposedConvolution(let c): [c.input]
        case .generated(let g): g.inputs
        case .host: []
        case .transfer(let t): t.toHost ? [t.tensor] : []
        }
    }

    public var runsOnDevice: Bool { if case .host = self { false } else { true } }
}

/// One node's fate in a plan, for `plan`'s listing.
public struct NodePlacement: Sendable, Equatable {
    public let node: String
    public let opType: String
    /// "host" (folded at load), "step N" (fused into step N), "host step N" (run by the fallback
    /// backend), or "view".
    public let placement: String

    /// Whether the node runs on the fallback backend (ONNX Runtime on the CPU), not the GPU.
    public var isHostStep: Bool { placement.hasPrefix("host step") }
    /// Whether a GPU step runs it: not folded at load, not a view, not on the fallback backend.
    public var runsOnGPU: Bool { !isHostStep && placement != "host" && placement != "view" }
}

/// A model lowered for fixed input shapes: the tensors, the steps in order, the weights, and where
/// every ONNX node went. Built on the host (`GraphLowering`), run by `EngineSession`.
public struct EnginePlan: Sendable {
    public var tensors: [PlannedTensor] = []
    public var steps: [PlanStep] = []
    /// Fused ONNX nodes of each step, by name.
    public var stepNodes: [[String]] = []
    public var weights: [PlannedWeight] = []
    /// Graph inputs: the tensor the user's data is copied into (the model's type, row-major).
    public var inputs: [(name: String, tensor: Int)] = []
    /// Graph outputs: the tensor copied back (the model's type, row-major).
    public var outputs: [(name: String, tensor: Int)] = []
    /// Graph inputs that stay on the host (integer inputs read by host steps), and graph outputs a
    /// host step computes: host values of the run.
    public var hostInputs: [String] = []
    public var hostOutputs: [String] = []
    public var placements: [NodePlacement] = []

    /// The storage owner of tensor `t` (following views).
    public func root(_ t: Int) -> Int {
        var t = t
        while let a = tensors[t].aliasOf { t = a }
        return t
    }

    mutating func add(_ tensor: PlannedTensor) -> Int {
        tensors.append(tensor)
        return tensors.count - 1
    }

    mutating func add(_ weight: PlannedWeight) -> Int {
        weights.append(weight)
        return weights.count - 1
    }

    mutating func append(_ step: PlanStep, nodes: [String]) {
        steps.append(step)
        stepNodes.append(nodes)
    }
}
