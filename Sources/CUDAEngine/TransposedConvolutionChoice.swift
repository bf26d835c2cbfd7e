import CUDA

/// Each transposed convolution's cuDNN backward-data algorithm, chosen as convolutions' are: the
/// kernel-choice cache's entry, or the fastest of the heuristics' top candidates (with the bias
/// epilogue) timed on the real buffers.
enum TransposedConvolutionChoice {
    typealias Chosen = (steps: [Int: (CuDNNTransposedConvolution, CuDNNConvolution.Candidate)], workspace: DeviceBuffer?,
                        choices: [Int: (algorithm: Int32, milliseconds: Double?)])

    static func choose(plan: EnginePlan, cudnn: CuDNN, region: @escaping (Int) -> DeviceRegion, weight: @escaping (Int) -> DeviceRegion,
                       epilogue: (Int) throws -> CUDAFunction?, cache: KernelChoiceCache) throws -> Chosen {
        var chosen: [Int: (CuDNNTransposedConvolution, CuDNNConvolution.Candidate)] = [:]
        var choices: [Int: (algorithm: Int32, milliseconds: Double?)] = [:]
        var timed: [String: Int32] = [:]
        var scratch: DeviceBuffer?
        let stream = cudnn.stream
        for (i, step) in plan.steps.enumerated() {
            guard case .transposedConvolution(let c) = step else { continue }
            let conv = try CuDNNTransposedConvolution(cudnn, geometry: c.geometry)
            let candidates = try conv.candidates()
            let node = plan.stepNodes[i].first ?? "step \(i)"
            guard !candidates.isEmpty else { throw EngineError.unsupported(node: node, opType: "ConvTranspose", reason: "cuDNN offers no algorithm for \(c.geometry)") }
            let key = "convT \(c.geometry)"
            if let cached = cache[key], let candidate = candidates.first(where: { $0.algorithm == cached }) {
                chosen[i] = (conv, candidate)
                choices[i] = (candidate.algorithm, nil)
                continue
            }
            let bias = try epilogue(i)
            let best = try ExecutablePlan.fastest(candidates.prefix(6), workspaceBytes: \.workspaceBytes, scratch: &scratch, stream: stream) { candidate, workspace in
                try Self.run(conv, candidate, c, epilogue: bias, region: region, weight: weight, workspace: workspace)
            }
            guard let (winner, ms) = best else { throw EngineError.unsupported(node: node, opType: "ConvTranspose", reason: "every cuDNN algorithm failed for \(c.geometry)") }
            chosen[i] = (conv, winner)
            choices[i] = (winner.algorithm, ms)
            timed[key] = winner.algorithm
        }
        cache.record(timed)
        let bytes = chosen.values.map(\.1.workspaceBytes).max() ?? 0
        let workspace = try ExecutablePlan.workspace(bytes, reusing: scratch, context: stream.context)
        return (chosen, workspace, choices)
    }

    /// The backward-data pass, then the bias (the epilogue kernel over the NHWC output).
    static func run(_ conv: CuDNNTransposedConvolution, _ candidate: CuDNNConvolution.Candidate, _ c: ConvolutionStep, epilogue: CUDAFunction?,
                    region: (Int) -> DeviceRegion, weight: (Int) -> DeviceRegion, workspace: DeviceRegion?) throws {
        let y = region(c.output)
        try conv.run(candidate, input: region(c.input), filter: weight(c.filter), output: y, workspace: workspace)
        guard let epilogue else { throw EngineError.internal("no bias kernel for a transposed convolution") }
        let elements = y.byteCount / 2, block = 256
        try epilogue.launch(grid: ((elements + block - 1) / block, 1, 1), block: (block, 1, 1), on: conv.cudnn.stream, [y.argument, weight(c.bias).argument])
    }
}
