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
        let muxer = try Self.muxerName(for: path)
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
        (pipeline, appsrc) = try api.launch(line, element: "halfpipe_src", hint: "avenc_mpeg4 is in gstreamer1.0-libav, \(muxer) in gstreamer1.0-plugins-good", strict: true)
        if api.gst_element_set_state(pipeline, GStreamerAPI.statePlaying) == GStreamerAPI.stateChangeFailure {
            let reason = api.pendingError(pipeline) ?? "GStreamer could not start the encoder"
            stop()
            throw .unwritable(path: path, reason: reason)
        }
    }

    deinit { stop() }

    /// Refuses, before any work, a video `path` this machine cannot write: an unknown extension,
    /// or the encoder or muxer it needs missing (with the package to install).
    public static func requireEncoder(for path: String) throws(VideoError) {
        let api = try GStreamerAPI.shared()
        let muxer = try muxerName(for: path)
        let needed = [("appsrc", "gstreamer1.0-plugins-base"), ("videoconvert", "gstreamer1.0-plugins-base"), ("avenc_mpeg4", "gstreamer1.0-libav"),
                      (muxer, "gstreamer1.0-plugins-good")]
        let missing = needed.filter { !api.hasElement($0.0) }
        guard missing.isEmpty else {
            throw .unwritable(path: path, reason: "GStreamer has no " + missing.map { "\($0.0) (install \($0.1))" }.joined(separator: ", ")
                + "; or annotate into a folder of JPEGs instead")
        }
    }

    static func muxerName(for path: String) throws(VideoError) -> String {
        let lower = path.lowercased()
        if lower.hasSuffix(".avi") { return "avimux" }
        if lower.hasSuffix(".mp4") || lower.hasSuffix(".mov") { return "mp4mux" }
        if lower.hasSuffix(".mkv") { return "matroskamux" }
        throw .unwritable(path: path, reason: "unknown container; name the file .avi, .mp4, .mov or .mkv")
    }

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
        // A failed encoder leaves a blocking source blocked: look at the bus before pushing.
        if let error = api.pendingError(pipeline) {
            api.gst_mini_object_unref(buffer)
            throw .unwritable(path: path, reason: "frame \(written): \(error)")
        }
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
        // The muxer finishing the file: seconds for a long run; the watchdog allows far more.
        if let error = api.waitForEnd(pipeline, timeout: UInt64(max(120, written / 10)) * 1_000_000_000) {
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
