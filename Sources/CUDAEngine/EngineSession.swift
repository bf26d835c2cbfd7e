#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import CUDA
import Inference
import ONNX
import Synchronization
import Tensors

/// A model loaded by the CUDA engine on one GPU. Each set of input shapes gets its own plan (lowered,
/// its memory planned, its convolutions chosen, captured as a CUDA graph) on first use, kept for the
/// next runs with those shapes.
public final class EngineSession: Session, @unchecked Sendable {
    public let inputs: [TensorDescription]
    public let outputs: [TensorDescription]
    public let device: Device
    public let source: String
    let context: CUDAContext
    let compiler: KernelCompiler
    private let model: ModelSource
    private let plans = Mutex<[[Int]: ExecutablePlan]>([:])
    private let hostWarnings = Mutex<Set<String>>([])
    private let unplanned: Mutex<ModelBox?>

    /// The parsed model, handed from init to the first plan under the lock.
    private final class ModelBox: @unchecked Sendable {
        let model: Model
        init(_ model: Model) { self.model = model }
    }
    /// Whether runs replay a CUDA graph (off: each step launched, for debugging and comparison).
    public let useGraph: Bool
    /// Where the nodes the engine cannot run go (nil: such a model is refused).
    public let fallback: HostFallback?

    /// Milliseconds of the session's own set-up: reading the model, making the CUDA context.
    let setupLaps: [(String, Double)]

    public init(_ model: ModelSource, device index: Int, fallback: HostFallback? = nil, useGraph: Bool = true) throws {
        self.fallback = fallback
        let start = ContinuousClock.now
        let parsed = try Self.load(model)
        let loaded = ContinuousClock.now
        unplanned = Mutex(ModelBox(parsed))
        self.model = model
        source = model.name
        device = .cuda(index)
        self.useGraph = useGraph
        let constants = Set(parsed.graph.initializers.map(\.name))
        inputs = parsed.graph.inputs.filter { !constants.contains($0.name) }.map(TensorDescription.init)
        outputs = parsed.graph.outputs.map(TensorDescription.init)
        do {
            context = try CUDAContext(device: index)
        } catch {
            throw EngineError.cuda(error)
        }
        compiler = KernelCompiler(context: context)
        setupLaps = [("reading the model", ExecutablePlan.milliseconds(loaded - start)),
                     ("CUDA context", ExecutablePlan.milliseconds(ContinuousClock.now - loaded))]
    }

    /// A fresh copy of the model (lowering rewrites it).
    static func load(_ model: ModelSource) throws -> Model {
        switch model {
        case .file(let path): try Model.load(contentsOf: path)
        case .bytes(let data, let name): Model(proto: try Model.decode(data, path: name))
        }
    }

    /// The executable plan for these inputs' shapes: made on first use.
    func executable(for inputs: [String: Tensor]) throws -> ExecutablePlan {
        try executable(shapes: inputs.mapValues(\.shape.dimensions))
    }

    /// The executable plan for these input shapes: made on first use.
    func executable(shapes given: [String: [Int]]) throws -> ExecutablePlan {
        let shapes = self.inputs.map { given[$0.name] ?? [] }
        if let made = plans.withLock({ $0[shapes.flatMap { $0 + [-1] }] }) { return made }
        for description in self.inputs where given[description.name] == nil {
            throw EngineError.badInput("input '\(description.name)' is missing (the model takes \(self.inputs.map(\.description).joined(separator: ", ")))")
        }
        // The model read at init serves the first plan; later shapes read it again (lowering rewrites it).
        let fresh = try unplanned.withLock { box -> Model? in defer { box = nil }; return box?.model } ?? Self.load(model)
        let lowering = ContinuousClock.now
        let plan = try GraphLowering.lower(fresh, inputShapes: Dictionary(uniqueKeysWithValues: zip(self.inputs.map(\.name), shapes)),
                                           fallback: fallback)
        let lowered = ExecutablePlan.milliseconds(ContinuousClock.now - lowering)
        let made = try ExecutablePlan.make(plan: plan, context: context, compiler: compiler, fallback: fallback, useGraph: useGraph)
        // Hybrid runs are right but pay the copies and the CPU: say which ops went there.
        let hosted = plan.placements.filter(\.isHostStep)
        if !hosted.isEmpty && hostWarnings.withLock({ $0.insert(source).inserted }) {
            let ops = Dictionary(grouping: hosted, by: \.opType).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
            Self.standardError("halfpipe: warning: the CUDA engine has no kernel for \(hosted.count) node(s) of \(source) (\(ops)); they run on ONNX Runtime on the CPU\n")
        }
        // A warning, not an error: the run is right, only slower.
        if let why = made.graphFailure {
            Self.standardError("halfpipe: warning: the CUDA engine runs \(source) without a CUDA graph (capture failed: \(why))\n")
        }
        plans.withLock { $0[shapes.flatMap { $0 + [-1] }] = made }
        if ProcessInfo.processInfo.environment["HALFPIPE_ENGINE_PROFILE"] == "1" {
            try printProfile(made, setup: setupLaps + [("planning (BatchNorm folding, lowering, FP16 weights)", lowered)] + made.setup)
        }
        return made
    }

    /// Warnings and the profile go to standard error by write(2): no shared FILE*.
    static func standardError(_ text: String) {
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    /// The set-up by part, then per-step times of one run, slowest first, on standard error
    /// (HALFPIPE_ENGINE_PROFILE=1).
    func printProfile(_ made: ExecutablePlan, setup: [(String, Double)]) throws {
        let times = try made.profileSteps()
        let total = times.reduce(0) { $0 + $1.milliseconds }
        var text = "engine set-up of \(source): " + setup.map { "\($0.0) \(NumberText.fixed($0.1, 1)) ms" }.joined(separator: ", ") + "\n"
        text += "engine profile of \(source) \(made.plan.inputs.map { made.plan.tensors[$0.tensor].shape }): \(times.count) steps, \(NumberText.fixed(total, 3)) ms of GPU time, each step timed alone\n"
        for (step, ms) in times.sorted(by: { $0.milliseconds > $1.milliseconds }).prefix(25) {
            let kind: String
            switch made.plan.steps[step] {
            case .convolution(let c):
                let choice = made.choices[step].map { $0.algorithm >= 100 ? "plain \($0.algorithm - 100)" : "fused \($0.algorithm)" } ?? "?"
                kind = "conv \(c.geometry) [\(choice)]"
            case .matrixProduct(let m): kind = "matmul \(m.shape)"
            case .transposedConvolution(let c): kind = "convT \(c.geometry)"
            case .generated(let g): kind = g.kind
            case .host: kind = "host"
            case .transfer(let t): kind = t.toHost ? "download" : "upload"
            }
            text += "  \(NumberText.fixed(ms * 1000, 1)) us  step \(step) \(kind) \(made.plan.stepNodes[step].joined(separator: "+"))\n"
        }
        Self.standardError(text)
    }

    public func runMeasured(_ inputs: [String: Tensor], outputNames: [String]?) throws -> (outputs: [String: Tensor], timings: RunTimings) {
        let plan = try executable(for: inputs)
        var (outputs, timings) = try plan.run(inputs)
        if let outputNames {
            for name in outputNames where outputs[name] == nil { throw EngineError.badInput("the model has no output '\(name)'") }
            outputs = outputs.filter { outputNames.contains($0.key) }
        }
        return (outputs, timings)
    }

    public func run(values: [String: SessionValue], outputNames: [String]?) throws -> [String: SessionValue] {
        var tensors: [String: Tensor] = [:]
        for (name, value) in values {
            guard case .tensor(let t) = value else { throw EngineError.badInput("input '\(name)': the CUDA engine takes tensors only") }
            tensors[name] = t
        }
        return try runMeasured(tensors, outputNames: outputNames).outputs.mapValues { .tensor($0) }
    }

    public func bind(inputs: [String: Tensor], outputShapes: [String: Shape]) throws -> any BoundRun {
        EngineBoundRun(session: self, inputs: inputs, plan: try executable(for: inputs))
    }
}

/// Inputs bound once: each run replays the plan's graph on the same device memory; inputs are copied
/// in only when replaced, outputs copied out only when read.
final class EngineBoundRun: BoundRun {
    let session: EngineSession
    var inputs: [String: Tensor]
    let plan: ExecutablePlan
    private var dirty = true

    init(session: EngineSession, inputs: [String: Tensor], plan: ExecutablePlan) {
        self.session = session
        self.inputs = inputs
        self.plan = plan
    }

    var device: Device { session.device }

    func run() throws {
        if dirty {
            try plan.upload(inputs)
            dirty = false
        }
        try plan.enqueue()
        try plan.stream.synchronize()
    }

    func write(input name: String, from tensor: Tensor) throws {
        guard inputs[name] != nil else { throw EngineError.badInput("the model has no input '\(name)'") }
        inputs[name] = tensor
        dirty = true
    }

    func read(output name: String) throws -> Tensor {
        guard let t = try plan.download()[name] else { throw EngineError.badInput("the model has no output '\(name)'") }
        return t
    }
}
