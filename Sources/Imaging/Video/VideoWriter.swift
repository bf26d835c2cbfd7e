#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Tensors

/// Writes frames of one size to a video file through GStreamer:
/// `appsrc ! videoconvert ! avenc_mpeg4 ! <muxer> ! filesink`, the muxer by extension (`.avi`,
/// `.mp4`/`.mov`, `.mkv`). The file is written beside the destination and renamed into place by
/// `finish()`, so a failure leaves nothing half written.
public final class VideoWriter: @unchecked Sendable {
    public let path: String
    public let width: Int
    public let height: Int
    private let api: GStreamerAPI
    private let pipeline: GstPointer
    private let appsrc: GstPointer
    private let temporary: String
    private let frameDuration: UInt64
    private var written = 0
    private var finished = false

    public init(path: String, width: Int, height: Int, framesPerSecond: Double) throws(VideoError) {
        self.path = path
        self.width = width
        self.height = height
        api = try GStreamerAPI.shared()
        let lower = path.lowercased()
        let muxer: String
        if lower.hasSuffix(".avi") { muxer = "avimux" }
        else if lower.hasSuffix(".mp4") || lower.hasSuffix(".mov") { muxer = "mp4mux" }
        else if lower.hasSuffix(".mkv") { muxer = "matroskamux" }
        else { throw .unwritable(path: path, reason: "unknown container; name the file .avi, .mp4, .mov or .mkv") }
        guard width > 0, height > 0 else { throw .unwritable(path: path, reason: "empty frames") }
        let fps = framesPerSecond > 0 && framesPerSecond.isFinite ? framesPerSecond : 25
        // A rational frame rate GStreamer accepts: thousandths are exact enough for 29.97.
        let numerator = Int((fps * 1000).rounded()), denominator = 1000
        frameDuration = UInt64((1e9 / fps).rounded())
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        temporary = String(path[..<slash]) + ".\(path[slash...]).partial-\(getpid())"
        let caps = "video/x-raw,format=RGB,width=\(width),height=\(height),framerate=\(numerator)/\(denominator)"
        let line = "appsrc name=halfpipe_src format=time block=true caps=\(GStreamerAPI.quoted(caps)) ! videoconvert ! "
            + "avenc_mpeg4 bitrate=4000000 ! \(muxer) ! filesink location=\(GStreamerAPI.quoted(temporary))"
        (pipeline, appsrc) = try api.launch(line, element: "halfpipe_src", hint: "avenc_mpeg4 is in gstreamer1.0-libav, \(muxer) in gstreamer1.0-plugins-good")
        if api.gst_element_set_state(pipeline, GStreamerAPI.statePlaying) == GStreamerAPI.stateChangeFailure {
            let reason = api.pendingError(pipeline) ?? "GStreamer could not start the encoder"
            stop()
            throw .unwritable(path: path, reason: reason)
        }
    }

    deinit { stop() }

    private var stopped = false
    private func stop() {
        guard !stopped else { return }
        stopped = true
        _ = api.gst_element_set_state(pipeline, GStreamerAPI.stateNull)
        api.gst_object_unref(appsrc)
        api.gst_object_unref(pipeline)
        if !finished { unlink(temporary) }
    }

    /// Appends one frame (RGB or BGR, the writer's size).
    public func write(_ image: Image) throws(VideoError) {
        guard !finished, !stopped else { throw .unwritable(path: path, reason: "the video is already finished") }
        guard image.width == width, image.height == height else {
            throw .unwritable(path: path, reason: "frame \(written) is \(image.width)x\(image.height), the video is \(width)x\(height): "
                + "an annotated video holds one frame size (write each size to its own file)")
        }
        let rgb = image.order == .rgb ? image.pixels : Self.swapped(image.pixels)
        let size = width * height * 3
        guard let buffer = api.gst_buffer_new_allocate(nil, size, nil) else { throw .unwritable(path: path, reason: "out of memory for frame \(written)") }
        _ = rgb.withUnsafeBytes { api.gst_buffer_fill(buffer, 0, $0.baseAddress!, size) }
        buffer.storeBytes(of: UInt64(written) * frameDuration, toByteOffset: 72, as: UInt64.self)
        buffer.storeBytes(of: frameDuration, toByteOffset: 88, as: UInt64.self)
        // push_buffer takes the buffer, whatever it returns.
        let flow = api.gst_app_src_push_buffer(appsrc, buffer)
        guard flow == GStreamerAPI.flowOK else {
            throw .unwritable(path: path, reason: api.pendingError(pipeline) ?? "the encoder refused frame \(written) (flow \(flow))")
        }
        written += 1
    }

    private static func swapped(_ pixels: Tensor) -> Tensor {
        var out = pixels
        out.withUnsafeMutableBufferPointer(as: UInt8.self) { p in
            for i in Swift.stride(from: 0, to: p.count, by: 3) { p.swapAt(i, i + 2) }
        }
        return out
    }

    /// Ends the stream, waits for the muxer to finish the file and moves it into place.
    /// - Returns: the number of frames written.
    @discardableResult
    public func finish() throws(VideoError) -> Int {
        guard !finished, !stopped else { return written }
        _ = api.gst_app_src_end_of_stream(appsrc)
        if let error = api.waitForEnd(pipeline) {
            stop()
            throw .unwritable(path: path, reason: error)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            stop()
            throw .unwritable(path: path, reason: "cannot move the finished file into place: \(reason)")
        }
        finished = true
        stop()
        return written
    }
}
