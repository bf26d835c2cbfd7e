/// The four cuDNN descriptors of one convolution geometry: x (its input), y (its output), the KRSC
/// filter and the convolution itself, FP16 NHWC data and FP32 accumulation with tensor cores
/// allowed. The forward convolution and the transposed one (its backward-data pass) share them.
final class ConvolutionDescriptors {
    let api: CuDNNAPI
    private(set) var x: Handle?, y: Handle?, w: Handle?, conv: Handle?

    init(_ cudnn: CuDNN, _ g: ConvolutionGeometry, what: String) throws(CUDAError) {
        api = cudnn.api
        try cudnn.stream.context.makeCurrent()
        try api.check(api.cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor")
        try api.check(api.cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor")
        try api.check(api.cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor")
        try api.check(api.cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor")
        let half = CuDNNAPI.dataHalf, nhwc = CuDNNAPI.formatNHWC
        func i(_ v: Int) -> Int32 { Int32(v) }
        try api.check(api.cudnnSetTensor4dDescriptor(x, nhwc, half, i(g.batch), i(g.channels), i(g.height), i(g.width)), "cudnnSetTensor4dDescriptor(x) for \(what)")
        try api.check(api.cudnnSetTensor4dDescriptor(y, nhwc, half, i(g.batch), i(g.filters), i(g.outputHeight), i(g.outputWidth)),
                      "cudnnSetTensor4dDescriptor(y) for \(what)")
        try api.check(api.cudnnSetFilter4dDescriptor(w, half, nhwc, i(g.filters), i(g.channels / g.groups), i(g.kernelHeight), i(g.kernelWidth)),
                      "cudnnSetFilter4dDescriptor for \(what)")
        // FP16 data, FP32 accumulation (cuDNN's "pseudo half" configuration), tensor cores allowed.
        try api.check(api.cudnnSetConvolution2dDescriptor(conv, i(g.padHeight), i(g.padWidth), i(g.strideHeight), i(g.strideWidth),
                                                          i(g.dilationHeight), i(g.dilationWidth), CuDNNAPI.crossCorrelation, CuDNNAPI.dataFloat),
                      "cudnnSetConvolution2dDescriptor for \(what)")
        try api.check(api.cudnnSetConvolutionGroupCount(conv, i(g.groups)), "cudnnSetConvolutionGroupCount for \(what)")
        try api.check(api.cudnnSetConvolutionMathType(conv, CuDNNAPI.tensorOpMath), "cudnnSetConvolutionMathType for \(what)")
    }

    /// The distinct algorithms a cuDNN `…Algorithm_v7` heuristics query ranks, best first, that it
    /// marks runnable: `query` fills up to `limit` performance records (algorithm, status, …).
    func rankedAlgorithms(limit: Int, _ function: @autoclosure () -> String,
                          _ query: (Int32, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer) -> CuDNNStatus) throws(CUDAError) -> [Int32] {
        let size = CuDNNAPI.performanceRecordBytes
        let records = UnsafeMutableRawPointer.allocate(byteCount: size * limit, alignment: 8)
        defer { records.deallocate() }
        var returned: Int32 = 0
        try api.check(query(Int32(limit), &returned, records), function())
        var algorithms: [Int32] = []
        for k in 0..<Int(returned) {
            let record = records.advanced(by: k * size)
            let algorithm = record.load(as: Int32.self), status = record.load(fromByteOffset: 4, as: Int32.self)
            if status == 0, !algorithms.contains(algorithm) { algorithms.append(algorithm) }
        }
        return algorithms
    }

    deinit {
        _ = api.cudnnDestroyTensorDescriptor(x); _ = api.cudnnDestroyTensorDescriptor(y)
        _ = api.cudnnDestroyFilterDescriptor(w); _ = api.cudnnDestroyConvolutionDescriptor(conv)
    }
}
