/// A transposed convolution (ONNX ConvTranspose, the decoder's upsampling) as cuDNN's backward-data
/// pass of the forward convolution `geometry`, which maps the output (its "x") back to the input
/// (its "y"): y = convᵀ(x, w). FP16 NHWC data, KRSC filters of the forward convolution (K is the
/// transposed convolution's input channels), FP32 accumulation. Bias and activation follow as the
/// caller's kernel.
public final class CuDNNTransposedConvolution: @unchecked Sendable {
    public let cudnn: CuDNN
    /// The forward convolution whose data gradient this is: `channels` and the spatial size are the
    /// transposed convolution's output, `filters` and the forward output size its input.
    public let geometry: ConvolutionGeometry
    /// The forward convolution's descriptors: its x is this step's output, its y this step's input.
    private let descriptors: ConvolutionDescriptors
    private var dx: Handle? { descriptors.x }
    private var dy: Handle? { descriptors.y }
    private var w: Handle? { descriptors.w }
    private var conv: Handle? { descriptors.conv }

    public init(_ cudnn: CuDNN, geometry g: ConvolutionGeometry) throws(CUDAError) {
        self.cudnn = cudnn
        geometry = g
        descriptors = try ConvolutionDescriptors(cudnn, g, what: "transposed convolution of \(g)")
    }

    /// The backward-data algorithms cuDNN's heuristics rank, best first, with their workspaces.
    public func candidates(limit: Int = 8) throws(CUDAError) -> [CuDNNConvolution.Candidate] {
        let api = cudnn.api
        try cudnn.stream.context.makeCurrent()
        let (handle, w, dy, conv, dx) = (cudnn.handle, w, dy, conv, dx)
        let algorithms = try descriptors.rankedAlgorithms(limit: limit, "cudnnGetConvolutionBackwardDataAlgorithm_v7 for \(geometry)") { n, returned, records in
            api.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, w, dy, conv, dx, n, returned, records)
        }
        var out: [CuDNNConvolution.Candidate] = []
        for algorithm in algorithms {
            var bytes = 0
            guard api.cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn.handle, w, dy, conv, dx, algorithm, &bytes) == 0 else { continue }
            out.append(CuDNNConvolution.Candidate(algorithm: algorithm, workspaceBytes: bytes, plain: true))
        }
        return out
    }

    /// Queues output = convᵀ(input, filter) on the handle's stream.
    public func run(_ candidate: CuDNNConvolution.Candidate, input: DeviceRegion, filter: DeviceRegion, output: DeviceRegion, workspace: DeviceRegion?) throws(CUDAError) {
        let api = cudnn.api
        let name = "cudnnConvolutionBackwardData"
        let ya = try input.address(for: name), wa = try filter.address(for: name), xa = try output.address(for: name)
        let (wsa, wsBytes) = try DeviceRegion.workspace(workspace, needing: candidate.workspaceBytes, for: name)
        var alpha: Float = 1, beta: Float = 0
        try cudnn.stream.context.makeCurrent()
        let status = withUnsafeBytes(of: &alpha) { a in
            withUnsafeBytes(of: &beta) { b in
                api.cudnnConvolutionBackwardData(cudnn.handle, a.baseAddress, w, wa, dy, ya, conv, candidate.algorithm, wsa, wsBytes,
                                                 b.baseAddress, dx, xa)
            }
        }
        try api.check(status, "\(name) (algorithm \(candidate.algorithm)) for \(geometry)")
    }
}
