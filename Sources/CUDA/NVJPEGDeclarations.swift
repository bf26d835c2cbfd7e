import Tensors

// nvJPEG, CUDA's JPEG decoder (libnvjpeg), loaded with dlopen at run time: our own declarations of
// NVIDIA's documented signatures (nvJPEG library guide). nvjpegStatus_t is an Int32 (0 is
// NVJPEG_STATUS_SUCCESS); handles are opaque pointers; the stream is a CUstream.
struct NVJPEGAPI {
    let nvjpegCreateSimple: @convention(c) (OutHandle?) -> Int32
    let nvjpegDestroy: @convention(c) (Handle?) -> Int32
    let nvjpegJpegStateCreate: @convention(c) (Handle?, OutHandle?) -> Int32
    let nvjpegJpegStateDestroy: @convention(c) (Handle?) -> Int32
    /// (handle, state, data, length, output format, nvjpegImage_t*, stream)
    let nvjpegDecode: @convention(c) (Handle?, Handle?, UnsafePointer<UInt8>?, Int, Int32, UnsafeMutableRawPointer?, Handle?) -> Int32

    /// nvjpegOutputFormat_t: interleaved RGB and BGR, one plane at channel[0].
    static let outputRGBI: Int32 = 5
    static let outputBGRI: Int32 = 6
    /// nvjpegImage_t: unsigned char* channel[4]; size_t pitch[4].
    static let imageStructBytes = 64

    static let names = ["libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so"]

    init(_ lib: DynamicLibrary) throws(DynamicLibraryError) {
        nvjpegCreateSimple = try lib.symbol("nvjpegCreateSimple"); nvjpegDestroy = try lib.symbol("nvjpegDestroy")
        nvjpegJpegStateCreate = try lib.symbol("nvjpegJpegStateCreate"); nvjpegJpegStateDestroy = try lib.symbol("nvjpegJpegStateDestroy")
        nvjpegDecode = try lib.symbol("nvjpegDecode")
    }

    static func load() throws(CUDAError) -> NVJPEGAPI {
        let library = try CUDALibraries.open(names, what: "nvJPEG (libnvjpeg.so)")
        return try CUDALibraries.declarations(in: library) { (lib) throws(DynamicLibraryError) in try NVJPEGAPI(lib) }
    }

    /// The one nvjpegStatus_t → error function (the names are the guide's return codes).
    func check(_ code: Int32, _ function: String, _ what: String) throws(CUDAError) {
        guard code != 0 else { return }
        let names = [1: "NVJPEG_STATUS_NOT_INITIALIZED", 2: "NVJPEG_STATUS_INVALID_PARAMETER", 3: "NVJPEG_STATUS_BAD_JPEG",
                     4: "NVJPEG_STATUS_JPEG_NOT_SUPPORTED", 5: "NVJPEG_STATUS_ALLOCATOR_FAILURE", 6: "NVJPEG_STATUS_EXECUTION_FAILED",
                     7: "NVJPEG_STATUS_ARCH_MISMATCH", 8: "NVJPEG_STATUS_INTERNAL_ERROR", 9: "NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED"]
        let kind: CUDAError.Kind = code == 2 || code == 3 || code == 4 ? .badInput : (code == 5 ? .outOfMemory : .call)
        throw CUDAError(kind, function: function, code: code, codeName: names[Int(code)] ?? "nvJPEG status \(code)", message: what)
    }
}
