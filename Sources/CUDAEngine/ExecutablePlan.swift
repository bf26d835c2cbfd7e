import FoundationEssentials
import CUDA
import Inference
import ONNX
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
    private let products: [Int: (CuBLASLtMatmul, CuBLASLtMatmul.Candidate)]
    private let transposed: [Int: (CuDNNTransposedConvolution, CuDNNConvolution.Candidate)]
    let transposedWorkspace: DeviceBuffer?
    /// cuBLASLt's workspace, apart from cuDNN's: a product and a convolution never overlap in a
    /// stream, but their sizes are chosen independently.
    let productWorkspace: DeviceBuffer?

    static func epilogueName(_ step: Int) -> String { "hp_e\(step)" }

    /// Any failure of set-up as the engine's error (CUDA's kept as the cause).
    static func engineError(_ error: any Error) -> EngineError {
        switch error {
        case let e as EngineError: e
        case let e as CUDAError: .cuda(e)
        default: .badInput("\(error)")
        }
    }

    /// A workspace of `bytes` for the chosen algorithms: the timing scratch when it is large enough,
    /// else a new buffer; nil when none needs one.
    static func workspace(_ bytes: Int, reusing scratch: DeviceBuffer?, context: CUDAContext) throws -> DeviceBuffer? {
        guard bytes > 0 else { return nil }
        if let scratch, scratch.byteCount >= bytes { return scratch }
        return try DeviceBuffer(context, bytes: bytes)
    }

    static func milliseconds(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }
    /// Device steps' launches in plan order, with their step index (for profiling).
    private var launches: [(step: Int, launch: () throws -> Void)] = []
    /// The run: stretches of device steps (each captured as one graph) between host steps.
    private var segments: [Segment] = []
    /// Host values of the current run: host inputs, downloads, host steps' outputs.
    private var hostValues: [String: Tensor] = [:]
    let fallback: HostFallback?

    enum Segment {
        case device(DeviceSegment)
        case host(HostStep, any Session)
    }

    final class DeviceSegment {
        var launches: [() throws -> Void] = []
        var uploads: [Transfer] = []
        var downloads: [Transfer] = []
        var graph: CUDAGraph?
    }
    /// Why the run could not be captured as a graph (each step is then launched on its own).
    private(set) var graphFailure: String?
    private let staging: [Int: PinnedBuffer]
    /// Per convolution step: the algorithm used and the milliseconds it took when timed (nil: from the cache).
    let choices: [Int: (algorithm: Int32, milliseconds: Double?)]
    /// Set-up time by part, for the start-up report.
    private(set) var setup: [(String, Double)]

    /// Prepares `plan` on the context's GPU, runs it once and captures it.
    static func make(plan: EnginePlan, context: CUDAContext, compiler: KernelCompiler, fallback: HostFallback?, useGraph: Bool = true) throws(EngineError) -> ExecutablePlan {
        let made = try ExecutablePlan(plan: plan, context: context, compiler: compiler, fallback: fallback)
        try made.capture(useGraph: useGraph)
        return made
    }

    private init(plan: EnginePlan, context: CUDAContext, compiler: KernelCompiler, fallback: HostFallback?) throws(EngineError) {
        self.plan = plan
        self.fallback = fallback
        self.context = context
        let memory = MemoryPlan(plan)
        self.memory = memory
        var laps: [(String, Double)] = []
        var clock = ContinuousClock.now
        func lap(_ what: String) {
            let now = ContinuousClock.now
            laps.append((what, Self.milliseconds(now - clock)))
            clock = now
        }
        do {
            // Arena and weights up front, against what the GPU has free: one clear refusal, not
            // a failed allocation halfway through set-up.
            let needed = memory.totalBytes + plan.weights.reduce(0) { $0 + ($1.byteCount + 255) / 256 * 256 }
            if let (free, total) = try? context.memoryInfo(), needed > free {
                let gb = { (b: Int) in NumberText.fixed(Double(b) / 1e9, 1) + " GB" }
                let inputs = plan.inputs.map { "\($0.name) \(plan.tensors[$0.tensor].shape)" }.joined(separator: ", ")
                throw EngineError.badInput("out of GPU memory: the plan for \(inputs) needs \(gb(needed)) (activations \(gb(memory.totalBytes))), "
                                           + "\(context.device.name) has \(gb(free)) free of \(gb(total)); use a smaller batch or input size")
            }
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
            let transfers = plan.steps.compactMap { if case .transfer(let t) = $0 { t.tensor } else { nil } }
            for t in plan.inputs.map(\.tensor) + plan.outputs.map(\.tensor) + transfers { pinned[t] = try PinnedBuffer(context, bytes: plan.tensors[t].byteCount) }
            staging = pinned

            // Generated steps, and each convolution's epilogue for when a plain cuDNN kernel wins.
            var sources = plan.steps.compactMap { if case .generated(let g) = $0 { g.source } else { nil } }
            for (i, step) in plan.steps.enumerated() {
                let c: ConvolutionStep
                switch step {
                case .convolution(let s), .transposedConvolution(let s): c = s
                default: continue
                }
                let activation: String? = switch c.activation {
                case .identity: nil
                case .relu: "fmaxf(v, 0.0f)"
                case .clippedRelu(let ceiling): "fminf(fmaxf(v, 0.0f), \(KernelSource.literal(Float(ceiling))))"
                }
                sources.append(KernelSource.epilogue(function: Self.epilogueName(i), elements: plan.tensors[c.output].storedElementCount,
                                                     channels: c.geometry.filters, residual: c.residual != nil, activation: activation))
            }
            let module = sources.isEmpty ? nil : try compiler.module(source: KernelSource.prelude + sources.joined(), name: "halfpipe_engine")
            self.module = module
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
                let key = KernelChoiceCache.key(c.geometry, c.activation, residual: c.residual != nil)
                // A cached choice skips cuDNN's heuristics query: milliseconds per convolution, a
                // quarter of a warm ResNet-50 start.
                if let cached = cache[key], let candidate = conv.candidate(code: cached) {
                    convolutions[i] = (conv, candidate)
                    choices[i] = (candidate.code, nil)
                    continue
                }
                let candidates = try conv.candidates()
                guard !candidates.isEmpty else {
                    throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "Conv", reason: "cuDNN offers no algorithm for \(c.geometry)")
                }
                // Time the top candidates on the real buffers, fused and plain + epilogue: the fastest wins.
                let epilogue = try module?.function(Self.epilogueName(i))
                let best = try Self.fastest(candidates.prefix(10), workspaceBytes: \.workspaceBytes, scratch: &scratch, stream: stream) { candidate, workspace in
                    try Self.convolve(conv, candidate, c, epilogue: epilogue, stream: stream, region: region, weight: weightRegion, workspace: workspace)
                }
                guard let (winner, ms) = best else {
                    throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "Conv", reason: "every cuDNN algorithm failed for \(c.geometry)")
                }
                convolutions[i] = (conv, winner)
                choices[i] = (winner.code, ms)
                timed[key] = winner.code
            }
            cache.record(timed)
            workspace = try Self.workspace(convolutions.values.map(\.1.workspaceBytes).max() ?? 0, reusing: scratch, context: context)
            lap("convolution algorithms")
            let chosen = try MatrixProductChoice.choose(plan: plan, stream: stream, region: region, cache: cache)
            products = chosen.products
            productWorkspace = chosen.workspace
            for (i, rank) in chosen.choices { choices[i] = rank }
            let upsampling = try TransposedConvolutionChoice.choose(plan: plan, cudnn: cudnn, region: region, weight: weightRegion,
                                                                    epilogue: { i in try module?.function(Self.epilogueName(i)) }, cache: cache)
            transposed = upsampling.steps
            transposedWorkspace = upsampling.workspace
            for (i, choice) in upsampling.choices { choices[i] = choice }
            if !chosen.products.isEmpty { lap("matrix product algorithms") }
            self.convolutions = convolutions
            self.choices = choices
            setup = laps
        } catch {
            throw Self.engineError(error)
        }
    }

    /// Builds the launch list, runs it once eagerly (the libraries' lazy set-up happens there, not
    /// during capture), then captures it as a graph.
    private func capture(useGraph: Bool) throws(EngineError) {
        let clock = ContinuousClock.now
        do {
            var current = DeviceSegment()
            func close() {
                if !current.launches.isEmpty || !current.downloads.isEmpty { segments.append(.device(current)) }
                current = DeviceSegment()
            }
            for (i, step) in plan.steps.enumerated() {
                let launch: () throws -> Void
                switch step {
                case .convolution(let c):
                    let (conv, candidate) = convolutions[i]!
                    let epilogue = candidate.plain ? try module?.function(Self.epilogueName(i)) : nil
                    let ws = workspace.map { DeviceRegion($0) }
                    launch = { [stream] in
                        try Self.convolve(conv, candidate, c, epilogue: epilogue, stream: stream, region: self.region, weight: self.weightRegion, workspace: ws)
                    }
                case .transposedConvolution(let c):
                    let (conv, candidate) = transposed[i]!
                    let epilogue = try module?.function(Self.epilogueName(i))
                    let ws = transposedWorkspace.map { DeviceRegion($0) }
                    launch = { try TransposedConvolutionChoice.run(conv, candidate, c, epilogue: epilogue, region: self.region, weight: self.weightRegion, workspace: ws) }
                case .matrixProduct(let m):
                    let (matmul, candidate) = products[i]!
                    let ws = productWorkspace.map { DeviceRegion($0) }
                    launch = { try matmul.run(candidate, a: self.region(m.a), b: self.region(m.b), output: self.region(m.output), workspace: ws) }
                case .generated(let g):
                    guard let module else { continue }
                    let function = try module.function(g.function)
                    let arguments = [region(g.output).argument] + g.inputs.map { region($0).argument } + g.weights.map { weightRegion($0).argument }
                    let block = 256, grid = (g.threads + block - 1) / block
                    launch = { try function.launch(grid: (grid, 1, 1), block: (block, 1, 1), on: self.stream, arguments) }
                case .transfer(let t):
                    // Pinned memory on both sides: the copies are captured in the graph like kernels.
                    let pinned = staging[t.tensor]!, offset = memory.offsets[t.tensor]
                    if t.toHost {
                        launch = { try pinned.withUnsafeMutableBytes { raw in try self.stream.copy(self.arena, at: offset, to: raw) } }
                        current.downloads.append(t)
                    } else {
                        launch = { try self.stream.copy(pinned, to: self.arena, offset: offset) }
                        current.uploads.append(t)
                    }
                case .host(let h):
                    close()
                    guard let fallback else { throw EngineError.internal("a host step without a fallback backend") }
                    segments.append(.host(h, try fallback.session(h.model, name: h.nodes.joined(separator: "+"))))
                    continue
                }
                current.launches.append(launch)
                launches.append((i, launch))
            }
            close()
            // One eager run (lazy initialisation inside the libraries happens here, not in capture).
            hostValues = [:]
            for name in plan.hostInputs {
                let description = try hostDescription(name)
                hostValues[name] = try Tensor(dtype: description.0, shape: try Shape(description.1))
            }
            try execute(graphs: false)
            if useGraph {
                for case .device(let segment) in segments where !segment.launches.isEmpty {
                    do {
                        segment.graph = try CUDAGraph(capturing: stream) { for launch in segment.launches { try launch() } }
                    } catch {
                        // A library that will not be captured costs launch time, not the run: say so, go on.
                        graphFailure = "\(error)"
                        try stream.synchronize()
                    }
                }
            }
            setup.append(("first run and graph capture", Self.milliseconds(ContinuousClock.now - clock)))
        } catch {
            throw Self.engineError(error)
        }
    }

    /// One convolution step with the chosen candidate: the fused call, or the plain kernel and our epilogue.
    static func convolve(_ conv: CuDNNConvolution, _ candidate: CuDNNConvolution.Candidate, _ c: ConvolutionStep, epilogue: CUDAFunction?, stream: CUDAStream,
                         region: (Int) -> DeviceRegion, weight: (Int) -> DeviceRegion, workspace: DeviceRegion?) throws {
        let y = region(c.output)
        try conv.run(candidate, input: region(c.input), filter: weight(c.filter), bias: weight(c.bias), residual: c.residual.map(region), output: y,
                     workspace: workspace)
        guard candidate.plain else { return }
        guard let epilogue else { throw EngineError.internal("no epilogue kernel for a plain convolution") }
        let elements = y.byteCount / 2, block = 256
        try epilogue.launch(grid: ((elements + block - 1) / block, 1, 1), block: (block, 1, 1), on: stream,
                            [y.argument, weight(c.bias).argument] + (c.residual.map { [region($0).argument] } ?? []))
    }

    /// Milliseconds of one `work` on the GPU. The repeats are captured as a graph and replayed, so
    /// the time is the kernels' and not the host's: the legacy cuDNN calls cost tens of microseconds
    /// each on the host, more than a batch-1 convolution takes on an H200, and timing them eagerly
    /// ranks the host, not the kernels. Eager timing only where capture fails.
    static func time(_ work: () throws -> Void, on stream: CUDAStream, repeats: Int) throws -> Double {
        let context = stream.context
        let begin = try CUDAEvent(context), end = try CUDAEvent(context)
        try stream.synchronize()
        if let graph = try? CUDAGraph(capturing: stream, { for _ in 0..<repeats { try work() } }) {
            try graph.launch(on: stream)  // warm
            try begin.record(on: stream)
            try graph.launch(on: stream)
            try end.record(on: stream)
        } else {
            try stream.synchronize()
            try begin.record(on: stream)
            for _ in 0..<repeats { try work() }
            try end.record(on: stream)
        }
        return try end.milliseconds(since: begin) / Double(repeats)
    }

    /// The fastest of `candidates` on the real buffers: each run once (a library may still refuse at
    /// launch: the next one is tried), then timed as `time` does. `scratch`, the workspace, grows to
    /// the largest one tried. Convolutions, transposed convolutions and matrix products choose so.
    static func fastest<Candidate>(_ candidates: some Sequence<Candidate>, workspaceBytes: (Candidate) -> Int, scratch: inout DeviceBuffer?,
                                   stream: CUDAStream, _ run: (Candidate, DeviceRegion?) throws -> Void) throws -> (Candidate, Double)? {
        var best: (Candidate, Double)?
        for candidate in candidates {
            let bytes = workspaceBytes(candidate)
            if (scratch?.byteCount ?? 0) < bytes { scratch = try DeviceBuffer(stream.context, bytes: bytes) }
            let workspace = scratch.map { DeviceRegion($0) }
            do { try run(candidate, workspace) } catch { continue }
            let ms = try time({ try run(candidate, workspace) }, on: stream, repeats: 10)
            if best == nil || ms < best!.1 { best = (candidate, ms) }
        }
        return best
    }

    /// Each device step alone, timed as `time` does: where the GPU time of one run goes, by step.
    func profileSteps() throws -> [(step: Int, milliseconds: Double)] {
        var out: [(Int, Double)] = []
        for (i, launch) in launches where !isTransfer(i) {
            out.append((i, try Self.time(launch, on: stream, repeats: 10)))
        }
        return out
    }

    private func isTransfer(_ step: Int) -> Bool { if case .transfer = plan.steps[step] { true } else { false } }

    /// A host input's type and shape, as the model was planned for.
    private func hostDescription(_ name: String) throws -> (DType, [Int]) {
        for case .host(let h) in plan.steps where h.inputs.contains(name) {
            let model = try Model(proto: Model.decode(h.model, path: name))
            if let input = model.graph.inputs.first(where: { $0.name == name }), let type = input.elementType {
                return (type, (input.shape ?? []).map { if case .fixed(let n) = $0 { n } else { 1 } })
            }
        }
        throw EngineError.internal("host input '\(name)' is read by no host step")
    }

    /// Runs the segments in order: host values written into the pinned buffers of a segment's
    /// uploads before it starts, its downloads read after it ends, host steps between.
    func execute(graphs: Bool = true) throws {
        for segment in segments {
            switch segment {
            case .device(let d):
                for u in d.uploads {
                    guard let value = hostValues[u.value] else { throw EngineError.internal("no host value '\(u.value)'") }
                    let tensor = plan.tensors[u.tensor]
                    let typed = value.dtype == tensor.dtype ? value : try value.converted(to: tensor.dtype)
                    guard typed.byteCount == tensor.byteCount else {
                        throw EngineError.badInput("'\(u.value)' has shape \(value.shape.dimensions) at run time, \(tensor.shape) when planned")
                    }
                    staging[u.tensor]!.withUnsafeMutableBytes { dst in typed.withUnsafeBytes { dst.copyMemory(from: $0) } }
                }
                if graphs, let graph = d.graph { try graph.launch(on: stream) } else { for launch in d.launches { try launch() } }
                if !d.downloads.isEmpty {
                    try stream.synchronize()
                    for t in d.downloads {
                        let tensor = plan.tensors[t.tensor]
                        hostValues[t.value] = try staging[t.tensor]!.withUnsafeBytes { raw in try Tensor(dtype: tensor.dtype, shape: try Shape(tensor.shape), bytes: raw) }
                    }
                }
            case .host(let h, let session):
                var inputs: [String: Tensor] = [:]
                for name in h.inputs {
                    guard let v = hostValues[name] else { throw EngineError.internal("no host value '\(name)'") }
                    inputs[name] = v
                }
                for (name, value) in try session.run(inputs) { hostValues[name] = value }
            }
        }
    }

    func region(_ t: Int) -> DeviceRegion {
        DeviceRegion(arena, offset: memory.offsets[t], bytes: plan.tensors[t].byteCount)
    }

    func weightRegion(_ w: Int) -> DeviceRegion {
        DeviceRegion(weights, offset: weightOffsets[w], bytes: plan.weights[w].byteCount)
    }

    /// Runs the steps: each segment's graph (or its launches), the host steps between.
    func enqueue() throws {
        try execute()
    }

    /// Queues the copies of `inputs` into their arena places (through pinned staging).
    func queueInputs(_ inputs: [String: Tensor]) throws {
        for name in plan.hostInputs {
            guard let value = inputs[name] else { throw EngineError.badInput("input '\(name)' is missing") }
            hostValues[name] = value
        }
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
        for name in plan.hostOutputs { outputs[name] = hostValues[name] }
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

    /// The four events a measured run records, made once: no driver objects are created per run.
    private var events: [CUDAEvent] = []

    private func runEvents() throws -> [CUDAEvent] {
        if events.isEmpty { events = try (0..<4).map { _ in try CUDAEvent(context) } }
        return events
    }

    /// Copies `inputs` in, runs, copies the outputs out; the milliseconds of each part.
    func run(_ inputs: [String: Tensor]) throws -> (outputs: [String: Tensor], timings: RunTimings) {
        let events = try runEvents()
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
