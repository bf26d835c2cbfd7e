import Tensors

// cuDNN 9 (libcudnn.so.9, which forwards to its cnn/ops sub-libraries), loaded with dlopen at run
// time: our own declarations of NVIDIA's documented legacy-API signatures. cudnnStatus_t is an
// Int32 (0 is CUDNN_STATUS_SUCCESS), handles and descriptors opaque pointers, streams the driver's.
typealias CuDNNStatus = Int32

struct CuDNNAPI {
    let cudnnGetVersion: @convention(c) () -> Int
    let cudnnGetErrorString: @convention(c) (CuDNNStatus) -> UnsafePointer<CChar>?
    let cudnnCreate: @convention(c) (OutHandle?) -> CuDNNStatus
    let cudnnDestroy: @convention(c) (Handle?) -> CuDNNStatus
    let cudnnSetStream: @convention(c) (Handle?, Handle?) -> CuDNNStatus
    let cudnnCreateTensorDescriptor: @convention(c) (OutHandle?) -> CuDNNStatus
    let cudnnDestroyTensorDescriptor: @convention(c) (Handle?) -> CuDNNStatus
    /// (descriptor, format, data type, n, c, h, w)
    let cudnnSetTensor4dDescriptor: @convention(c) (Handle?, Int32, Int32, Int32, Int32, Int32, Int32) -> CuDNNStatus
    let cudnnCreateFilterDescriptor: @convention(c) (OutHandle?) -> CuDNNStatus
    let cudnnDestroyFilterDescriptor: @convention(c) (Handle?) -> CuDNNStatus
    /// (descriptor, data type, format, k, c, h, w): the data type comes first here, unlike tensors.
    let cudnnSetFilter4dDescriptor: @convention(c) (Handle?, Int32, Int32, Int32, Int32, Int32, Int32) -> CuDNNStatus
    let cudnnCreateConvolutionDescriptor: @convention(c) (OutHandle?) -> CuDNNStatus
    let cudnnDestroyConvolutionDescriptor: @convention(c) (Handle?) -> CuDNNStatus
    /// (descriptor, pad h, pad w, stride h, stride w, dilation h, dilation w, mode, compute type)
    let cudnnSetConvolution2dDescriptor: @convention(c) (Handle?, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) -> CuDNNStatus
    let cudnnSetConvolutionGroupCount: @convention(c) (Handle?, Int32) -> CuDNNStatus
    let cudnnSetConvolutionMathType: @convention(c) (Handle?, Int32) -> CuDNNStatus
    let cudnnGetConvolution2dForwardOutputDim: @convention(c) (Handle?, Handle?, Handle?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?,
                                                               UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> CuDNNStatus
    /// (handle, x, w, conv, y, requested, returned, results): heuristics, best first.
    let cudnnGetConvolutionForwardAlgorithm_v7: @convention(c) (Handle?, Handle?, Handle?, Handle?, Handle?, Int32, UnsafeMutablePointer<Int32>?,
                                                                UnsafeMutableRawPointer?) -> CuDNNStatus
    let cudnnGetConvolutionForwardWorkspaceSize: @convention(c) (Handle?, Handle?, Handle?, Handle?, Handle?, Int32, UnsafeMutablePointer<Int>?) -> CuDNNStatus
    let cudnnCreateActivationDescriptor: @convention(c) (OutHandle?) -> CuDNNStatus
    let cudnnDestroyActivationDescriptor: @convention(c) (Handle?) -> CuDNNStatus
    /// (descriptor, mode, NaN propagation, coefficient)
    let cudnnSetActivationDescriptor: @convention(c) (Handle?, Int32, Int32, Double) -> CuDNNStatus
    /// y = act(alpha1 · conv(x, w) + alpha2 · z + bias)
    let cudnnConvolutionBiasActivationForward: @convention(c) (
        Handle?, UnsafeRawPointer?, Handle?, DevicePointer, Handle?, DevicePointer, Handle?, Int32, DevicePointer, Int,
        UnsafeRawPointer?, Handle?, DevicePointer, Handle?, DevicePointer, Handle?, Handle?, DevicePointer) -> CuDNNStatus

    /// y = alpha · conv(x, w) + beta · y
    let cudnnConvolutionForward: @convention(c) (Handle?, UnsafeRawPointer?, Handle?, DevicePointer, Handle?, DevicePointer, Handle?, Int32,
                                                 DevicePointer, Int, UnsafeRawPointer?, Handle?, DevicePointer) -> CuDNNStatus

    /// (handle, alpha, w, w data, dy, dy data, conv, algorithm, workspace, workspace bytes, beta, dx, dx data):
    /// dx = alpha · convᵀ(dy, w) + beta · dx, the transposed convolution.
    let cudnnConvolutionBackwardData: @convention(c) (Handle?, UnsafeRawPointer?, Handle?, DevicePointer, Handle?, DevicePointer, Handle?, Int32,
                                                      DevicePointer, Int, UnsafeRawPointer?, Handle?, DevicePointer) -> CuDNNStatus
    /// (handle, w, dy, conv, dx, requested, returned, results)
    let cudnnGetConvolutionBackwardDataAlgorithm_v7: @convention(c) (Handle?, Handle?, Handle?, Handle?, Handle?, Int32, UnsafeMutablePointer<Int32>?,
                                                                     UnsafeMutableRawPointer?) -> CuDNNStatus
    /// (handle, w, dy, conv, dx, algorithm, bytes)
    let cudnnGetConvolutionBackwardDataWorkspaceSize: @convention(c) (Handle?, Handle?, Handle?, Handle?, Handle?, Int32, UnsafeMutablePointer<Int>?) -> CuDNNStatus

    init(_ lib: DynamicLibrary) throws(DynamicLibraryError) {
        cudnnGetVersion = try lib.symbol("cudnnGetVersion"); cudnnGetErrorString = try lib.symbol("cudnnGetErrorString")
        cudnnCreate = try lib.symbol("cudnnCreate"); cudnnDestroy = try lib.symbol("cudnnDestroy"); cudnnSetStream = try lib.symbol("cudnnSetStream")
        cudnnCreateTensorDescriptor = try lib.symbol("cudnnCreateTensorDescriptor")
        cudnnDestroyTensorDescriptor = try lib.symbol("cudnnDestroyTensorDescriptor")
        cudnnSetTensor4dDescriptor = try lib.symbol("cudnnSetTensor4dDescriptor")
        cudnnCreateFilterDescriptor = try lib.symbol("cudnnCreateFilterDescriptor")
        cudnnDestroyFilterDescriptor = try lib.symbol("cudnnDestroyFilterDescriptor")
        cudnnSetFilter4dDescriptor = try lib.symbol("cudnnSetFilter4dDescriptor")
        cudnnCreateConvolutionDescriptor = try lib.symbol("cudnnCreateConvolutionDescriptor")
        cudnnDestroyConvolutionDescriptor = try lib.symbol("cudnnDestroyConvolutionDescriptor")
        cudnnSetConvolution2dDescriptor = try lib.symbol("cudnnSetConvolution2dDescriptor")
        cudnnSetConvolutionGroupCount = try lib.symbol("cudnnSetConvolutionGroupCount")
        cudnnSetConvolutionMathType = try lib.symbol("cudnnSetConvolutionMathType")
        cudnnGetConvolution2dForwardOutputDim = try lib.symbol("cudnnGetConvolution2dForwardOutputDim")
        cudnnGetConvolutionForwardAlgorithm_v7 = try lib.symbol("cudnnGetConvolutionForwardAlgorithm_v7")
        cudnnGetConvolutionForwardWorkspaceSize = try lib.symbol("cudnnGetConvolutionForwardWorkspaceSize")
        cudnnCreateActivationDescriptor = try lib.symbol("cudnnCreateActivationDescriptor")
        cudnnDestroyActivationDescriptor = try lib.symbol("cudnnDestroyActivationDescriptor")
        cudnnSetActivationDescriptor = try lib.symbol("cudnnSetActivationDescriptor")
        cudnnConvolutionBiasActivationForward = try lib.symbol("cudnnConvolutionBiasActivationForward")
        cudnnConvolutionForward = try lib.symbol("cudnnConvolutionForward")
        cudnnConvolutionBackwardData = try lib.symbol("cudnnConvolutionBackwardData")
        cudnnGetConvolutionBackwardDataAlgorithm_v7 = try lib.symbol("cudnnGetConvolutionBackwardDataAlgorithm_v7")
        cudnnGetConvolutionBackwardDataWorkspaceSize = try lib.symbol("cudnnGetConvolutionBackwardDataWorkspaceSize")
    }

    /// libcudnn from `HALFPIPE_CUDA_LIBRARY_PATH`, the toolkit and system folders, or the loader's search.
    static func load() throws(CUDAError) -> CuDNNAPI {
        let library = try CUDALibraries.open(CUDALibraries.cudnnNames, what: "cuDNN 9 (libcudnn.so.9)")
        return try CUDALibraries.declarations(in: library) { (lib) throws(DynamicLibraryError) in try CuDNNAPI(lib) }
    }

    /// The one cudnnStatus_t → error function. CUDNN_STATUS_NOT_SUPPORTED (3000 and its sub-codes)
    /// is a configuration cuDNN has no kernel for: `badInput`, which planners read as "try another".
    func check(_ status: CuDNNStatus, _ function: @autoclosure () -> String) throws(CUDAError) {
        guard status != 0 else { return }
        let text = cudnnGetErrorString(status).map { String(cString: $0) } ?? "cuDNN status \(status)"
        let kind: CUDAError.Kind = (3000..<4000).contains(status) ? .badInput : status == 4001 || status == 2 ? .outOfMemory : .call
        throw CUDAError(kind, function: function(), code: status, codeName: text, message: "cuDNN \(cudnnGetVersion()) refused the call")
    }

    // Enumerations (cudnn_graph.h / cudnn_cnn.h), the values we use.
    static let dataFloat: Int32 = 0, dataHalf: Int32 = 2
    static let formatNCHW: Int32 = 0, formatNHWC: Int32 = 1
    static let crossCorrelation: Int32 = 1
    static let tensorOpMath: Int32 = 1
    static let activationRelu: Int32 = 1, activationClippedRelu: Int32 = 3, activationIdentity: Int32 = 5
    static let propagateNaN: Int32 = 1
    static let algorithmImplicitPrecompGEMM: Int32 = 1
    /// sizeof(cudnnConvolutionFwdAlgoPerf_t): algo, status, time (float), memory (size_t at 16),
    /// determinism, mathType, reserved[3].
    static let performanceRecordBytes = 48
}
