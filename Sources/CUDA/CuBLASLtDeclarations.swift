import Tensors

// cuBLASLt (libcublasLt), loaded with dlopen at run time: our own declarations of NVIDIA's
// documented signatures (cuBLAS guide, "cuBLASLt API"). cublasStatus_t is an Int32 (0 is
// CUBLAS_STATUS_SUCCESS); handles and descriptors are opaque pointers; the stream is a CUstream.
struct CuBLASLtAPI {
    let cublasLtGetVersion: @convention(c) () -> Int
    let cublasLtCreate: @convention(c) (OutHandle?) -> Int32
    let cublasLtDestroy: @convention(c) (Handle?) -> Int32
    /// (descriptor out, compute type, scale type)
    let cublasLtMatmulDescCreate: @convention(c) (OutHandle?, Int32, Int32) -> Int32
    let cublasLtMatmulDescDestroy: @convention(c) (Handle?) -> Int32
    /// (descriptor, attribute, value, value bytes)
    let cublasLtMatmulDescSetAttribute: @convention(c) (Handle?, Int32, UnsafeRawPointer?, Int) -> Int32
    /// (layout out, data type, rows, columns, leading dimension)
    let cublasLtMatrixLayoutCreate: @convention(c) (OutHandle?, Int32, UInt64, UInt64, Int64) -> Int32
    let cublasLtMatrixLayoutDestroy: @convention(c) (Handle?) -> Int32
    let cublasLtMatrixLayoutSetAttribute: @convention(c) (Handle?, Int32, UnsafeRawPointer?, Int) -> Int32
    let cublasLtMatmulPreferenceCreate: @convention(c) (OutHandle?) -> Int32
    let cublasLtMatmulPreferenceDestroy: @convention(c) (Handle?) -> Int32
    let cublasLtMatmulPreferenceSetAttribute: @convention(c) (Handle?, Int32, UnsafeRawPointer?, Int) -> Int32
    /// (handle, descriptor, A, B, C, D layouts, preference, requested, results, returned)
    let cublasLtMatmulAlgoGetHeuristic: @convention(c) (Handle?, Handle?, Handle?, Handle?, Handle?, Handle?, Handle?, Int32,
                                                        UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
    /// (handle, descriptor, alpha, A, A layout, B, B layout, beta, C, C layout, D, D layout, algorithm,
    /// workspace, workspace bytes, stream): D = alpha · op(A) · op(B) + beta · C
    let cublasLtMatmul: @convention(c) (Handle?, Handle?, UnsafeRawPointer?, DevicePointer, Handle?, DevicePointer, Handle?, UnsafeRawPointer?,
                                        DevicePointer, Handle?, DevicePointer, Handle?, UnsafeRawPointer?, DevicePointer, Int, Handle?) -> Int32

    static let names = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"]

    init(_ lib: DynamicLibrary) throws(DynamicLibraryError) {
        cublasLtGetVersion = try lib.symbol("cublasLtGetVersion")
        cublasLtCreate = try lib.symbol("cublasLtCreate"); cublasLtDestroy = try lib.symbol("cublasLtDestroy")
        cublasLtMatmulDescCreate = try lib.symbol("cublasLtMatmulDescCreate"); cublasLtMatmulDescDestroy = try lib.symbol("cublasLtMatmulDescDestroy")
        cublasLtMatmulDescSetAttribute = try lib.symbol("cublasLtMatmulDescSetAttribute")
        cublasLtMatrixLayoutCreate = try lib.symbol("cublasLtMatrixLayoutCreate"); cublasLtMatrixLayoutDestroy = try lib.symbol("cublasLtMatrixLayoutDestroy")
        cublasLtMatrixLayoutSetAttribute = try lib.symbol("cublasLtMatrixLayoutSetAttribute")
        cublasLtMatmulPreferenceCreate = try lib.symbol("cublasLtMatmulPreferenceCreate")
        cublasLtMatmulPreferenceDestroy = try lib.symbol("cublasLtMatmulPreferenceDestroy")
        cublasLtMatmulPreferenceSetAttribute = try lib.symbol("cublasLtMatmulPreferenceSetAttribute")
        cublasLtMatmulAlgoGetHeuristic = try lib.symbol("cublasLtMatmulAlgoGetHeuristic")
        cublasLtMatmul = try lib.symbol("cublasLtMatmul")
    }

    static func load() throws(CUDAError) -> CuBLASLtAPI {
        let library = try CUDALibraries.open(names, what: "cuBLASLt (libcublasLt.so)")
        return try CUDALibraries.declarations(in: library) { (lib) throws(DynamicLibraryError) in try CuBLASLtAPI(lib) }
    }

    /// The one cublasStatus_t → error function (the names are the guide's status codes).
    func check(_ code: Int32, _ function: @autoclosure () -> String) throws(CUDAError) {
        guard code != 0 else { return }
        let names: [Int32: String] = [1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
                                      8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
                                      14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR"]
        let kind: CUDAError.Kind = code == 7 || code == 15 || code == 8 ? .badInput : code == 3 ? .outOfMemory : .call
        throw CUDAError(kind, function: function(), code: code, codeName: names[code] ?? "cuBLAS status \(code)",
                        message: "cuBLASLt \(cublasLtGetVersion()) refused the call")
    }

    // Enumerations (cublasLt.h, library_types.h), the values we use.
    static let computeFloat32: Int32 = 68  // CUBLAS_COMPUTE_32F
    static let dataFloat32: Int32 = 0, dataFloat16: Int32 = 2  // CUDA_R_32F, CUDA_R_16F
    static let descTransposeA: Int32 = 3, descTransposeB: Int32 = 4
    static let layoutBatchCount: Int32 = 5, layoutBatchStride: Int32 = 6
    static let preferenceMaxWorkspace: Int32 = 1
    /// sizeof(cublasLtMatmulHeuristicResult_t): algo (uint64_t[8]), workspaceSize (size_t at 64),
    /// state (cublasStatus_t at 72), wavesCount (float), reserved int[4].
    static let heuristicResultBytes = 96
    static let algorithmBytes = 64
}
