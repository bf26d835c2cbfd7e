/// cuDNN bound to one stream: the handle every convolution of an engine runs through.
public final class CuDNN: @unchecked Sendable {
    public let stream: CUDAStream
    let api: CuDNNAPI
    let handle: Handle

    public init(stream: CUDAStream) throws(CUDAError) {
        self.stream = stream
        api = try stream.context.cuda.cudnn()
        try stream.context.makeCurrent()
        var h: Handle?
        try api.check(api.cudnnCreate(&h), "cudnnCreate")
        handle = h!
        try api.check(api.cudnnSetStream(handle, stream.handle), "cudnnSetStream")
    }

    deinit {
        try? stream.context.makeCurrent()
        _ = api.cudnnDestroy(handle)
    }

    /// cuDNN's version number (91400 for 9.14.0): part of every kernel-choice cache key.
    public var version: Int { api.cudnnGetVersion() }

    /// The version of the cuDNN library this process loads (loading it once): whether the engine
    /// can run here, without making a handle.
    public static func libraryVersion(_ cuda: CUDA) throws(CUDAError) -> Int { try cuda.cudnn().cudnnGetVersion() }
}

/// One 2-D convolution's shape, FP16 NHWC data and KRSC filters (ONNX's OIHW reordered), with
/// symmetric padding: what the legacy API takes. Channels are as stored (padded where the engine pads).
public struct ConvolutionGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch, channels, height, width: Int
    public var filters, kernelHeight, kernelWidth: Int
    public var padHeight, padWidth, strideHeight, strideWidth, dilationHeight, dilationWidth: Int
    public var groups: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, filters: Int, kernel: (Int, Int), pads: (Int, Int) = (0, 0),
                strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1), groups: Int = 1) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.filters = filters; kernelHeight = kernel.0; kernelWidth = kernel.1
        padHeight = pads.0; padWidth = pads.1; strideHeight = strides.0; strideWidth = strides.1
        dilationHeight = dilations.0; dilationWidth = dilations.1; self.groups = groups
    }

    public var outputHeight: Int { (height + 2 * padHeight - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1 }
    public var outputWidth: Int { (width + 2 * padWidth - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1 }
    /// Multiply-adds of one run, for the fraction of tensor-core peak.
    public var multiplyAdds: Int { batch * outputHeight * outputWidth * filters * kernelHeight * kernelWidth * (channels / groups) }

    public var description: String {
        "\(batch)×\(height)×\(width)×\(channels) * \(filters)×\(kernelHeight)×\(kernelWidth)×\(channels / groups)"
            + " s\(strideHeight),\(strideWidth) p\(padHeight),\(padWidth)" + (dilationHeight > 1 || dilationWidth > 1 ? " d\(dilationHeight),\(dilationWidth)" : "")
            + (groups > 1 ? " g\(groups)" : "")
    }
}

/// What follows the convolution in the same kernel: y = act(conv(x) + bias [+ z]).
public enum ConvolutionActivation: Hashable, Sendable {
    case identity
    case relu
    /// min(max(x, 0), ceiling): ReLU6 and Clip(0, c).
    case clippedRelu(Double)
}

/// A convolution with bias, optional residual input and activation, fused in one cuDNN call
/// (`cudnnConvolutionBiasActivationForward`). Its descriptors are made once; `candidates` lists the
/// algorithms cuDNN's heuristics offer, `run` queues one with the caller's buffers.
public final class CuDNNConvolution: @unchecked Sendable {
    public let cudnn: CuDNN
    public let geometry: ConvolutionGeometry
    public let activation: ConvolutionActivation
    private let descriptors: ConvolutionDescriptors
    private var bias: Handle?, act: Handle?
    private var x: Handle? { descriptors.x }
    private var y: Handle? { descriptors.y }
    private var w: Handle? { descriptors.w }
    private var conv: Handle? { descriptors.conv }

    public init(_ cudnn: CuDNN, geometry g: ConvolutionGeometry, activation: ConvolutionActivation) throws(CUDAError) {
        self.cudnn = cudnn
        geometry = g
        self.activation = activation
        let what = "convolution \(g)"
        descriptors = try ConvolutionDescriptors(cudnn, g, what: what)
        let api = cudnn.api
        try api.check(api.cudnnCreateTensorDescriptor(&bias), "cudnnCreateTensorDescriptor")
        try api.check(api.cudnnCreateActivationDescriptor(&act), "cudnnCreateActivationDescriptor")
        try api.check(api.cudnnSetTensor4dDescriptor(bias, CuDNNAPI.formatNCHW, CuDNNAPI.dataHalf, 1, Int32(g.filters), 1, 1),
                      "cudnnSetTensor4dDescriptor(bias) for \(what)")
        let (mode, coefficient): (Int32, Double) = switch activation {
        case .identity: (CuDNNAPI.activationIdentity, 0)
        case .relu: (CuDNNAPI.activationRelu, 0)
        case .clippedRelu(let c): (CuDNNAPI.activationClippedRelu, c)
        }
        try api.check(api.cudnnSetActivationDescriptor(act, mode, CuDNNAPI.propagateNaN, coefficient), "cudnnSetActivationDescriptor for \(what)")
        var n: Int32 = 0, c: Int32 = 0, h: Int32 = 0, wd: Int32 = 0
        try api.check(api.cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &h, &wd), "cudnnGetConvolution2dForwardOutputDim for \(what)")
        guard Int(n) == g.batch, Int(c) == g.filters, Int(h) == g.outputHeight, Int(wd) == g.outputWidth else {
            throw CUDAError(.badInput, function: "cudnnGetConvolution2dForwardOutputDim",
                            message: "cuDNN computes \(n)×\(c)×\(h)×\(wd) for \(what), the plan \(g.batch)×\(g.filters)×\(g.outputHeight)×\(g.outputWidth)")
        }
    }

    deinit {
        let api = cudnn.api
        try? cudnn.stream.context.makeCurrent()
        _ = api.cudnnDestroyTensorDescriptor(bias); _ = api.cudnnDestroyActivationDescriptor(act)
    }

    /// An algorithm cuDNN offers for this convolution and the workspace it needs. A `plain` one is
    /// the convolution alone (`cudnnConvolutionForward`): the caller adds bias, residual and
    /// activation with a kernel of its own. At small batches cuDNN's plain kernels are often the
    /// faster pair.
    public struct Candidate: Hashable, Sendable {
        public let algorithm: Int32
        public let workspaceBytes: Int
        public var plain = false

        /// The number the kernel-choice cache keeps: plain algorithms offset by 100.
        public var code: Int32 { plain ? algorithm + 100 : algorithm }
    }

    /// The candidate a kernel-choice cache names by its `code`, with the workspace it needs; nil when
    /// cuDNN refuses it for this convolution now.
    public func candidate(code: Int32) -> Candidate? {
        let plain = code >= 100, algorithm = plain ? code - 100 : code
        var bytes = 0
        guard (try? cudnn.stream.context.makeCurrent()) != nil,
              cudnn.api.cudnnGetConvolutionForwardWorkspaceSize(cudnn.handle, x, w, conv, y, algorithm, &bytes) == 0 else { return nil }
        return Candidate(algorithm: algorithm, workspaceBytes: bytes, plain: plain)
    }

    /// The algorithms cuDNN's heuristics rank for this convolution, best first, that it says it can
    /// run. The fused call with the identity activation runs only the implicit precomputed GEMM.
    public func candidates(limit: Int = 8) throws(CUDAError) -> [Candidate] {
        let api = cudnn.api
        try cudnn.stream.context.makeCurrent()
        let (handle, x, w, conv, y) = (cudnn.handle, x, w, conv, y)
        let algorithms = try descriptors.rankedAlgorithms(limit: limit, "cudnnGetConvolutionForwardAlgorithm_v7 for \(geometry)") { n, returned, records in
            api.cudnnGetConvolutionForwardAlgorithm_v7(handle, x, w, conv, y, n, returned, records)
        }
        var out: [Candidate] = []
        for algorithm in algorithms {
            var bytes = 0
            guard api.cudnnGetConvolutionForwardWorkspaceSize(cudnn.handle, x, w, conv, y, algorithm, &bytes) == 0 else { continue }
            // The fused call with the identity activation runs only the implicit precomputed GEMM.
            if activation != .identity || algorithm == CuDNNAPI.algorithmImplicitPrecompGEMM {
                out.append(Candidate(algorithm: algorithm, workspaceBytes: bytes))
            }
            out.append(Candidate(algorithm: algorithm, workspaceBytes: bytes, plain: true))
        }
        if activation == .identity, !out.contains(where: { !$0.plain }) {
            var bytes = 0
            if api.cudnnGetConvolutionForwardWorkspaceSize(cudnn.handle, x, w, conv, y, CuDNNAPI.algorithmImplicitPrecompGEMM, &bytes) == 0 {
                out.append(Candidate(algorithm: CuDNNAPI.algorithmImplicitPrecompGEMM, workspaceBytes: bytes))
            }
        }
        return out
    }

    /// Queues y = act(conv(x, w) + bias + z) on the handle's stream; `residual` nil leaves z out.
    /// A plain candidate queues y = conv(x, w) only.
    public func run(_ candidate: Candidate, input: DeviceRegion, filter: DeviceRegion, bias biasData: DeviceRegion, residual: DeviceRegion?,
                    output: DeviceRegion, workspace: DeviceRegion?) throws(CUDAError) {
        let api = cudnn.api
        let name = "cudnnConvolutionBiasActivationForward"
        let xa = try input.address(for: name), wa = try filter.address(for: name), ba = try biasData.address(for: name)
        let ya = try output.address(for: name)
        // cuDNN reads z even when alpha2 is 0 on some paths: point it at y then (same shape, harmless).
        let za = try residual?.address(for: name) ?? ya
        let (wsa, wsBytes) = try DeviceRegion.workspace(workspace, needing: candidate.workspaceBytes, for: name)
        var alpha1: Float = 1, alpha2: Float = residual == nil ? 0 : 1
        try cudnn.stream.context.makeCurrent()
        if candidate.plain {
            var beta: Float = 0
            let status = withUnsafeBytes(of: &alpha1) { a in
                withUnsafeBytes(of: &beta) { b in
                    api.cudnnConvolutionForward(cudnn.handle, a.baseAddress, x, xa, w, wa, conv, candidate.algorithm, wsa, wsBytes,
                                                b.baseAddress, y, ya)
                }
            }
            try api.check(status, "cudnnConvolutionForward (algorithm \(candidate.algorithm)) for \(geometry)")
            return
        }
        let status = withUnsafeBytes(of: &alpha1) { a1 in
            withUnsafeBytes(of: &alpha2) { a2 in
                api.cudnnConvolutionBiasActivationForward(cudnn.handle, a1.baseAddress, x, xa, w, wa, conv, candidate.algorithm, wsa,
                                                          wsBytes, a2.baseAddress, y, za, bias, ba, act, y, ya)
            }
        }
        try api.check(status, "\(name) (algorithm \(candidate.algorithm)) for \(geometry)")
    }
}
