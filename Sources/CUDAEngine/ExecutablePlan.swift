import FoundationEssentials
import CUDA
import Inference
import Tensors

/// An `EnginePlan` made real on one GPU: one arena for every tensor (the memory plan), the weights
/// uploaded once, the generated kernels compiled in one module, each convolution's algorithm chosen
/// by timing (or the cache), and the whole run captured as a CUDA graph. `run` copies the inputs in,
/// replays the graph and copies the outputs out: no allocation and no host synchronisation inside.
final class ExecutablePlan: @unchecked Sendable {
    let plan: EnginePlan
    let memory: MemoryPlan
    let context: CUDAContext
    let stream: CUDAStream
    let cudnn: CuDNN
    let arena: DeviceBuffer
    let weights: DeviceBuffer
    let weightOffsets: [Int]
    let workspace: DeviceBuffer?
    private let module: CUDAModule?
    private let convolutions: [Int: (CuDNNConvolution, CuDNNConvolution.Candidate)]
    private var launches: [() throws -> Void] = []
    private var graph: CUDAGraph?
    /// Why the run could not be captured as a graph (each step is then launched on its own).
    private(set) var graphFailure: String?
    private let staging: [Int: PinnedBuffer]
    /// Per convolution step: the algorithm used and the milliseconds it took when timed (nil: from the cache).
    let choices: [Int: (algorithm: Int32, milliseconds: Double?)]
    /// Set-up time by part, for the start-up report.
    private(set) var setup: [(String, Double)]

    /// Prepares `plan` on the context's GPU, runs it once and captures it.
    static func make(plan: EnginePlan, context: CUDAContext, compiler: KernelCompiler, useGraph: Bool = true) throws(EngineError) -> ExecutablePlan {
        let made = try ExecutablePlan(plan: plan, context: context, compiler: compiler)
        try made.capture(useGraph: useGraph)
        return made
    }

    private init(plan: EnginePlan, context: CUDAContext, compiler: KernelCompiler) throws(EngineError) {
        self.plan = plan
        self.context = context
        let memory = MemoryPlan(plan)
        self.memory = memory
        var laps: [(String, Double)] = []
        var clock = ContinuousClock.now
        func lap(_ what: String) {
            let now = ContinuousClock.now
            laps.append((what, Double((now - clock).components.attoseconds) / 1e15 + Double((now - clock).components.seconds) * 1e3))
            clock = now
        }
        do {
            let stream = try CUDAStream(context)
            self.stream = stream
            cudnn = try CuDNN(stream: stream)
            let arena = try DeviceBuffer(context, bytes: max(memory.totalBytes, 256))
            self.arena = arena
            // Zeros first: timing runs read the arena before anything wrote it.
            try stream.fill(arena, byte: 0)
            var offsets: [Int] = [], total = 0
            for w in plan.weights {
                offsets.append(total)
                total += (w.byteCount + 255) / 256 * 256
            }
            weightOffsets = offsets
            let weights = try DeviceBuffer(context, bytes: max(total, 256))
            self.weights = weights
            for (w, offset) in zip(plan.weights, offsets) {
                try w.bytes.withUnsafeBytes { raw in try stream.copy(raw, to: weights, offset: offset) }
            }
            try stream.synchronize()
            lap("memory and weights")
            var pinned: [Int: PinnedBuffer] = [:]
            for t in plan.inputs.map(\.tensor) + plan.outputs.map(\.tensor) { pinned[t] = try PinnedBuffer(context, bytes: plan.tensors[t].byteCount) }
            staging = pinned

            let sources = plan.steps.compactMap { if case .generated(let g) = $0 { g.source } else { nil } }
            module = sources.isEmpty ? nil : try compiler.module(source: KernelSource.prelude + sources.joined(), name: "halfpipe_engine")
            lap("kernels (NVRTC or cache)")

            // Convolutions: descriptors, the algorithm (cache or timing), one shared workspace.
            let cache = KernelChoiceCache(gpu: context.device.name, cudnnVersion: cudnn.version)
            var convolutions: [Int: (CuDNNConvolution, CuDNNConvolution.Candidate)] = [:]
            var choices: [Int: (algorithm: Int32, milliseconds: Double?)] = [:]
            func region(_ t: Int) -> DeviceRegion { DeviceRegion(arena, offset: memory.offsets[t], bytes: plan.tensors[t].byteCount) }
            func weightRegion(_ w: Int) -> DeviceRegion { DeviceRegion(weights, offset: offsets[w], bytes: plan.weights[w].byteCount) }
            var timed: [String: Int32] = [:]
            var scratch: DeviceBuffer?
            for (i, step) in plan.steps.enumerated() {
                guard case .convolution(let c) = step else { continue }
                let conv = try CuDNNConvolution(cudnn, geometry: c.geometry, activation: c.activation)
                let candidates = try conv.candidates()
                guard !candidates.isEmpty else {
                    throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "Conv", reason: "cuDNN offers no algorithm for \(c.geometry)")
                }
                let key = KernelChoiceCache.key(c.geometry, c.activation, residual: c.residual != nil)
                if let cached = cache[key], let candidate = candidates.first(where: { $0.algorithm == cached }) {
                    convolutions[i] = (conv, candidate)
                    choices[i] = (candidate.algorithm, nil)
                    continue
                }
                // Time the top candidates on the real buffers: the fastest wins.
                var best: (CuDNNConvolution.Candidate, Double)?
                for candidate in candidates.prefix(4) {
                    if (scratch?.byteCount ?? 0) < candidate.workspaceBytes { scratch = try DeviceBuffer(context, bytes: candidate.workspaceBytes) }
                    let run = { () throws(CUDAError) in
                        try conv.run(candidate, input: region(c.input), filter: weightRegion(c.filter), bias: weightRegion(c.bias),
                                     residual: c.residual.map(region), output: region(c.output), workspace: scratch.map { DeviceRegion($0) })
                    }
                    do { try run() } catch { continue }  // cuDNN may still refuse at launch: the next one
                    let begin = try CUDAEvent(context), end = try CUDAEvent(context)
                    try begin.record(on: stream)
                    for _ in 0..<3 { try run() }
                    try end.record(on: stream)
                    let ms = try end.milliseconds(since: begin) / 3
                    if best == nil || ms < best!.1 { best = (candidate, ms) }
                }
                guard let (winner, ms) = best else {
                    throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "Conv", reason: "every cuDNN algorithm failed for \(c.geometry)")
                }
                convolutions[i] = (conv, winner)
                choices[i] = (winner.algorithm, ms)
                timed[key] = winner.algorithm
            }
            cache.record(timed)
            let workspaceBytes = convolutions.values.map(\.1.workspaceBytes).max() ?? 0
            if workspaceBytes == 0 {
                workspace = nil
            } else if let scratch, scratch.byteCount >= workspaceBytes {
                workspace = scratch
            } else {
                workspace = try DeviceBuffer(context, bytes: workspaceBytes)
            }
            lap("convolution algorithms")
            self.convolutions = convolutions
            self.choices = choices
            setup = laps
        } catch let error as EngineError {
            throw error
        } catch let error as CUDAError {
            throw EngineError.cuda(error)
        } catch {
            throw EngineError.badInput("\(error)")
        }
    }

    /// Builds the launch list, runs it once eagerly (the libraries' lazy set-up happens there, not
    /// during capture), then captures it as a graph.
    private func capture(useGraph: Bool) throws(EngineError) {
        let clock = ContinuousClock.now
        do {
            for (i, step) in plan.steps.enumerated() {
                switch step {
                case .convolution(let c):
                    let (conv, candidate) = convolutions[i]!
                    let x = region(c.input), y = region(c.output), f = weightRegion(c.filter), b = weightRegion(c.bias)
                    let z = c.residual.map(region), ws = workspace.map { DeviceRegion($0) }
                    launches.append { try conv.run(candidate, input: x, filter: f, bias: b, residual: z, output: y, workspace: ws) }
                case .generated(let g):
                    guard let module else { continue }
                    let function = try module.function(g.function)
                    let arguments = [region(g.output).argument] + g.inputs.map { region($0).argument } + g.weights.map { weightRegion($0).argument }
                    let block = 256, grid = (g.threads + block - 1) / block
                    launches.append { try function.launch(grid: (grid, 1, 1), block: (block, 1, 1), on: self.stream, arguments) }
                }
            }
            // One eager run (lazy initialisation inside the libraries happens here, not in capture).
            for launch in launches { try launch() }
            try stream.synchronize()
            if useGraph {
                do {
                    graph = try CUDAGraph(capturing: stream) { for launch in self.launches { try launch() } }
                } catch {
                    // A library that will not be captured costs launch time, not the run: say so, go on.
                    graphFailure = "\(error)"
                    try stream.synchronize()
                }
            }
            let elapsed = ContinuousClock.now - clock
            setup.append(("first run and graph capture", Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15))
        } catch let error as EngineError {
            throw error
        } catch let error as CUDAError {
            throw EngineError.cuda(error)
        } catch {
            throw EngineError.badInput("\(error)")
        }
    }

    func region(_ t: Int) -> DeviceRegion {
        DeviceRegion(arena, offset: memory.offsets[t], bytes: plan.tensors[t].byteCount)
    }

    func weightRegion(_ w: Int) -> DeviceRegion {
        DeviceRegion(weights, offset: weightOffsets[w], bytes: plan.weights[w].byteCount)
    }

    /// Queues the steps: the graph's one launch, or each step.
    func enqueue() throws {
        if let graph { try graph.launch(on: stream) } else { for launch in launches { try launch() } }
    }

    /// Queues the copies of `inputs` into their arena places (through pinned staging).
    func queueInputs(_ inputs: [String: Tensor]) throws {
        for (name, t) in plan.inputs {
            guard let value = inputs[name] else { throw EngineError.badInput("input '\(name)' is missing") }
            let expected = plan.tensors[t]
            guard value.shape.dimensions == expected.shape else {
                throw EngineError.badInput("input '\(name)': shape \(value.shape.dimensions), the plan was made for \(expected.shape)")
            }
            let typed = value.dtype == expected.dtype ? value : try value.converted(to: expected.dtype)
            let pinned = staging[t]!
            pinned.withUnsafeMutableBytes { dst in typed.withUnsafeBytes { dst.copyMemory(from: $0) } }
            try stream.copy(pinned, to: arena, offset: memory.offsets[t])
        }
    }

    func queueOutputs() throws {
        for (_, t) in plan.outputs {
            try staging[t]!.withUnsafeMutableBytes { raw in try stream.copy(arena, at: memory.offsets[t], to: raw) }
        }
    }

    /// The outputs from the pinned staging (after `queueOutputs` and a synchronisation).
    func stagedOutputs() throws -> [String: Tensor] {
        var outputs: [String: Tensor] = [:]
        for (name, t) in plan.outputs {
            let tensor = plan.tensors[t]
            outputs[name] = try staging[t]!.withUnsafeBytes { raw in try Tensor(dtype: tensor.dtype, shape: try Shape(tensor.shape), bytes: raw) }
        }
        return outputs
    }

    func upload(_ inputs: [String: Tensor]) throws {
        try queueInputs(inputs)
        try stream.synchronize()
    }

    func download() throws -> [String: Tensor] {
        try queueOutputs()
        try stream.synchronize()
        return try stagedOutputs()
    }

    /// Copies `inputs` in, runs, copies the outputs out; the milliseconds of each part.
    func run(_ inputs: [String: Tensor]) throws -> (outputs: [String: Tensor], timings: RunTimings) {
        let events = try (0..<4).map { _ in try CUDAEvent(context) }
        try events[0].record(on: stream)
        try queueInputs(inputs)
        try events[1].record(on: stream)
        try enqueue()
        try events[2].record(on: stream)
        try queueOutputs()
        try events[3].record(on: stream)
        try stream.synchronize()
        let timings = RunTimings(inputsMs: try events[1].milliseconds(since: events[0]), inferenceMs: try events[2].milliseconds(since: events[1]),
                                 outputsMs: try events[3].milliseconds(since: events[2]))
        return (try stagedOutputs(), timings)
    }
}
