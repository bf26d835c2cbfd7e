/// cuBLASLt bound to one stream: the handle every matrix product of an engine runs through.
public final class CuBLASLt: @unchecked Sendable {
    public let stream: CUDAStream
    let api: CuBLASLtAPI
    let handle: Handle

    public init(stream: CUDAStream) throws(CUDAError) {
        self.stream = stream
        api = try stream.context.cuda.cublasLt()
        try stream.context.makeCurrent()
        var h: Handle?
        try api.check(api.cublasLtCreate(&h), "cublasLtCreate")
        handle = h!
    }

    deinit {
        try? stream.context.makeCurrent()
        _ = api.cublasLtDestroy(handle)
    }

    /// cuBLASLt's version number (130000 and up for CUDA 13): part of every kernel-choice cache key.
    public var version: Int { api.cublasLtGetVersion() }
}

/// A strided batch of FP16 matrix products in row-major order, C[i] = A[i] · B[i] with A[i] m×k and
/// B[i] k×n (n×k when `transposeB`), accumulated in FP32. A batch stride of 0 reads one matrix for
/// every product (ONNX MatMul's broadcasting of a lone matrix).
public struct MatrixProductShape: Hashable, Sendable, CustomStringConvertible {
    public var batch, rows, columns, inner: Int
    public var strideA, strideB: Int
    public var transposeB: Bool

    public init(batch: Int, rows: Int, columns: Int, inner: Int, strideA: Int, strideB: Int, transposeB: Bool = false) {
        self.batch = batch; self.rows = rows; self.columns = columns; self.inner = inner
        self.strideA = strideA; self.strideB = strideB; self.transposeB = transposeB
    }

    public var multiplyAdds: Int { batch * rows * columns * inner }

    public var description: String {
        "\(batch)×[\(rows)×\(inner)] · [\(transposeB ? "\(columns)×\(inner)ᵀ" : "\(inner)×\(columns)")]"
            + (strideA == 0 ? " A shared" : "") + (strideB == 0 ? " B shared" : "")
    }
}

/// One matrix-product shape's cuBLASLt descriptors, made once. cuBLAS is column-major, so the
/// row-major product C = A·B runs as Cᵀ = Bᵀ·Aᵀ: the same bytes, the operands swapped.
public final class CuBLASLtMatmul: @unchecked Sendable {
    public let lt: CuBLASLt
    public let shape: MatrixProductShape
    private var desc: Handle?, layoutA: Handle?, layoutB: Handle?, layoutD: Handle?

    public init(_ lt: CuBLASLt, shape s: MatrixProductShape) throws(CUDAError) {
        self.lt = lt
        shape = s
        let api = lt.api
        try lt.stream.context.makeCurrent()
        let what = "matrix product \(s)"
        try api.check(api.cublasLtMatmulDescCreate(&desc, CuBLASLtAPI.computeFloat32, CuBLASLtAPI.dataFloat32), "cublasLtMatmulDescCreate for \(what)")
        // cuBLAS's A is our B: n×k column-major (ld n) as stored, or k×n (ld k) read transposed.
        var opA: Int32 = s.transposeB ? 1 : 0, opB: Int32 = 0
        try api.check(api.cublasLtMatmulDescSetAttribute(desc, CuBLASLtAPI.descTransposeA, &opA, 4), "cublasLtMatmulDescSetAttribute(TRANSA)")
        try api.check(api.cublasLtMatmulDescSetAttribute(desc, CuBLASLtAPI.descTransposeB, &opB, 4), "cublasLtMatmulDescSetAttribute(TRANSB)")
        let (n, m, k) = (UInt64(s.columns), UInt64(s.rows), UInt64(s.inner))
        let half = CuBLASLtAPI.dataFloat16
        if s.transposeB {
            try api.check(api.cublasLtMatrixLayoutCreate(&layoutA, half, k, n, Int64(k)), "cublasLtMatrixLayoutCreate(B) for \(what)")
        } else {
            try api.check(api.cublasLtMatrixLayoutCreate(&layoutA, half, n, k, Int64(n)), "cublasLtMatrixLayoutCreate(B) for \(what)")
        }
        try api.check(api.cublasLtMatrixLayoutCreate(&layoutB, half, k, m, Int64(k)), "cublasLtMatrixLayoutCreate(A) for \(what)")
        try api.check(api.cublasLtMatrixLayoutCreate(&layoutD, half, n, m, Int64(n)), "cublasLtMatrixLayoutCreate(C) for \(what)")
        if s.batch > 1 {
            for (layout, stride) in [(layoutA, s.strideB), (layoutB, s.strideA), (layoutD, s.rows * s.columns)] {
                var count = Int32(s.batch), offset = Int64(stride)
                try api.check(api.cublasLtMatrixLayoutSetAttribute(layout, CuBLASLtAPI.layoutBatchCount, &count, 4), "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)")
                try api.check(api.cublasLtMatrixLayoutSetAttribute(layout, CuBLASLtAPI.layoutBatchStride, &offset, 8),
                              "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)")
            }
        }
    }

    deinit {
        let api = lt.api
        try? lt.stream.context.makeCurrent()
        _ = api.cublasLtMatrixLayoutDestroy(layoutA); _ = api.cublasLtMatrixLayoutDestroy(layoutB); _ = api.cublasLtMatrixLayoutDestroy(layoutD)
        _ = api.cublasLtMatmulDescDestroy(desc)
    }

    /// An algorithm cuBLASLt's heuristics offer: its rank, the opaque configuration, its workspace.
    public struct Candidate: Sendable {
        public let rank: Int
        public let workspaceBytes: Int
        let algorithm: [UInt8]
    }

    /// The algorithms the heuristics rank for this shape, best first, within `maxWorkspace` bytes.
    public func candidates(limit: Int = 8, maxWorkspace: Int = 32 << 20) throws(CUDAError) -> [Candidate] {
        let api = lt.api
        try lt.stream.context.makeCurrent()
        var preference: Handle?
        try api.check(api.cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate")
        defer { _ = api.cublasLtMatmulPreferenceDestroy(preference) }
        var bytes = UInt64(maxWorkspace)
        try api.check(api.cublasLtMatmulPreferenceSetAttribute(preference, CuBLASLtAPI.preferenceMaxWorkspace, &bytes, 8),
                      "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)")
        let size = CuBLASLtAPI.heuristicResultBytes
        let results = UnsafeMutableRawPointer.allocate(byteCount: size * limit, alignment: 16)
        defer { results.deallocate() }
        results.initializeMemory(as: UInt8.self, repeating: 0, count: size * limit)
        var returned: Int32 = 0
        try api.check(api.cublasLtMatmulAlgoGetHeuristic(lt.handle, desc, layoutA, layoutB, layoutD, layoutD, preference, Int32(limit), results, &returned),
                      "cublasLtMatmulAlgoGetHeuristic for \(shape)")
        var out: [Candidate] = []
        for k in 0..<Int(returned) {
            let record = results.advanced(by: k * size)
            guard record.load(fromByteOffset: 72, as: Int32.self) == 0 else { continue }
            let workspace = Int(record.load(fromByteOffset: 64, as: UInt64.self))
            let algorithm = Array(UnsafeRawBufferPointer(start: record, count: CuBLASLtAPI.algorithmBytes))
            out.append(Candidate(rank: k, workspaceBytes: workspace, algorithm: algorithm))
        }
        return out
    }

    /// Queues C = A · B on the handle's stream with the given algorithm.
    public func run(_ candidate: Candidate, a: DeviceRegion, b: DeviceRegion, output: DeviceRegion, workspace: DeviceRegion?) throws(CUDAError) {
        let api = lt.api
        let name = "cublasLtMatmul"
        let aa = try a.address(for: name), ba = try b.address(for: name), ca = try output.address(for: name)
        let (wsa, wsBytes) = try DeviceRegion.workspace(workspace, needing: candidate.workspaceBytes, for: name)
        var alpha: Float = 1, beta: Float = 0
        try lt.stream.context.makeCurrent()
        let status = withUnsafeBytes(of: &alpha) { al in
            withUnsafeBytes(of: &beta) { be in
                candidate.algorithm.withUnsafeBytes { algo in
                    api.cublasLtMatmul(lt.handle, desc, al.baseAddress, ba, layoutA, aa, layoutB, be.baseAddress, ca, layoutD, ca, layoutD,
                                       algo.baseAddress, wsa, wsBytes, lt.stream.handle)
                }
            }
        }
        try api.check(status, "\(name) (heuristic \(candidate.rank)) for \(shape)")
    }
}
