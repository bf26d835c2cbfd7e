import Tensors

/// JPEG decoding on the GPU with nvJPEG: the compressed bytes in host memory, the interleaved 8-bit
/// pixels written into a device buffer at an offset (e.g. a preprocessing staging area), on a
/// stream. Huffman decoding runs on the host inside nvJPEG; the IDCT and colour conversion on the
/// GPU. One decoder per thread (nvJPEG's state is not shared).
public final class JPEGDecoderGPU: @unchecked Sendable {
    public let context: CUDAContext
    let api: NVJPEGAPI
    let handle: Handle
    let state: Handle

    public init(context: CUDAContext) throws(CUDAError) {
        self.context = context
        api = try NVJPEGAPI.load()
        try context.makeCurrent()
        var h: Handle?, s: Handle?
        try api.check(api.nvjpegCreateSimple(&h), "nvjpegCreateSimple", "creating the nvJPEG handle")
        handle = h!
        do {
            try api.check(api.nvjpegJpegStateCreate(handle, &s), "nvjpegJpegStateCreate", "creating an nvJPEG state")
        } catch {
            _ = api.nvjpegDestroy(handle)
            throw error
        }
        state = s!
    }

    deinit {
        try? context.makeCurrent()
        _ = api.nvjpegJpegStateDestroy(state)
        _ = api.nvjpegDestroy(handle)
    }

    /// Whether nvJPEG loads on this machine (nil), or why not.
    public static func unavailability() -> String? {
        switch Result(catching: { () throws(CUDAError) in try NVJPEGAPI.load() }) {
        case .success: nil
        case .failure(let error): error.message
        }
    }

    /// Decodes `jpeg` (of `width` × `height` pixels, as its header says: the caller has read it)
    /// as interleaved RGB (or BGR) rows of `width * 3` bytes into `destination` at `offset`, queued
    /// on `stream`. nvJPEG reads the bytes before it returns.
    public func decode(_ jpeg: [UInt8], width: Int, height: Int, name: String, bgr: Bool, into destination: DeviceBuffer, offset: Int,
                       on stream: CUDAStream) throws(CUDAError) {
        let bytes = width * height * 3
        let address = try destination.address(at: offset, bytes: bytes, for: "nvjpegDecode")
        // nvjpegImage_t: the first channel pointer and pitch; the other three unused (zero).
        var image = [UInt64](repeating: 0, count: NVJPEGAPI.imageStructBytes / 8)
        image[0] = address
        image[4] = UInt64(width * 3)
        try context.makeCurrent()
        let code = jpeg.withUnsafeBufferPointer { data in
            image.withUnsafeMutableBytes { api.nvjpegDecode(handle, state, data.baseAddress, data.count, bgr ? NVJPEGAPI.outputBGRI : NVJPEGAPI.outputRGBI, $0.baseAddress, stream.handle) }
        }
        try api.check(code, "nvjpegDecode", name)
    }
}
