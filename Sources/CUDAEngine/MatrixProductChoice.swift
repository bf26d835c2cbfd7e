import CUDA

/// Each matrix product's cuBLASLt algorithm, chosen as convolutions' are: the kernel-choice cache's
/// entry, or the fastest of the heuristics' top candidates timed on the real buffers. The cache
/// keeps the heuristic's rank, which names the same algorithm for the same shape, GPU and version.
enum MatrixProductChoice {
    typealias Chosen = (products: [Int: (CuBLASLtMatmul, CuBLASLtMatmul.Candidate)], workspace: DeviceBuffer?,
                        choices: [Int: (algorithm: Int32, milliseconds: Double?)])

    static func choose(plan: EnginePlan, stream: CUDAStream, region: @escaping (Int) -> DeviceRegion, cache: KernelChoiceCache) throws -> Chosen {
        let steps = plan.steps.enumerated().compactMap { (i, step) -> (Int, MatrixProductStep)? in
            if case .matrixProduct(let m) = step { (i, m) } else { nil }
        }
        guard !steps.isEmpty else { return ([:], nil, [:]) }
        let lt = try CuBLASLt(stream: stream)
        var products: [Int: (CuBLASLtMatmul, CuBLASLtMatmul.Candidate)] = [:]
        var choices: [Int: (algorithm: Int32, milliseconds: Double?)] = [:]
        var timed: [String: Int32] = [:]
        var scratch: DeviceBuffer?
        for (i, m) in steps {
            let matmul = try CuBLASLtMatmul(lt, shape: m.shape)
            let candidates = try matmul.candidates()
            guard !candidates.isEmpty else {
                throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "MatMul", reason: "cuBLASLt offers no algorithm for \(m.shape)")
            }
            let key = "matmul \(m.shape) cublasLt\(lt.version)"
            if let cached = cache[key], let candidate = candidates.first(where: { $0.rank == Int(cached) }) {
                products[i] = (matmul, candidate)
                choices[i] = (Int32(candidate.rank), nil)
                continue
            }
            let best = try ExecutablePlan.fastest(candidates.prefix(4), workspaceBytes: \.workspaceBytes, scratch: &scratch, stream: stream) { candidate, workspace in
                try matmul.run(candidate, a: region(m.a), b: region(m.b), output: region(m.output), workspace: workspace)
            }
            guard let (winner, ms) = best else {
                throw EngineError.unsupported(node: plan.stepNodes[i].first ?? "step \(i)", opType: "MatMul", reason: "every cuBLASLt algorithm failed for \(m.shape)")
            }
            products[i] = (matmul, winner)
            choices[i] = (Int32(winner.rank), ms)
            timed[key] = Int32(winner.rank)
        }
        cache.record(timed)
        let bytes = products.values.map(\.1.workspaceBytes).max() ?? 0
        let workspace = try ExecutablePlan.workspace(bytes, reusing: scratch, context: stream.context)
        return (products, workspace, choices)
    }
}
