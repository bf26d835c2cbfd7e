import FoundationEssentials
import Tensors

/// One decoded video frame with its place in the stream.
public struct VideoFrame: Sendable {
    public var image: Image
    /// 0, 1, 2 … in decoding order.
    public var index: Int
    /// Presentation time in seconds from the stream's start, when the stream carries one.
    public var timestamp: Double?
}

/// Frames of a video file, a URI (`rtsp://`, `http://`, `file://`) or a V4L2 camera (`/dev/video0`)
/// through GStreamer: `… ! videoconvert ! video/x-raw,format=RGB ! appsink`. Frames come one at a
/// time, in order, each in its own size (a stream that changes size mid-way gives frames of both).
public final class VideoReader: @unchecked Sendable {
    public let source: String
    private let api: GStreamerAPI
    private let pipeline: GstPointer
    private let sink: GstPointer
    private let order: ChannelOrder
    private var nextIndex = 0
    private var ended = false
    /// Frames per second from the first frame's caps, when the stream states it.
    public private(set) var framesPerSecond: Double?
    /// Why the stream ended before its end (a decoding error, a demuxer's warning, or frames
    /// missing before the duration the container declares); nil for a stream read to its end.
    public private(set) var stoppedEarly: String?
    private var lastTimestamp: Double?

    /// Opens `source` and starts decoding; a missing file, an unknown format or a missing decoder
    /// plugin throws here with GStreamer's own reason.
    /// - Parameter queue: decoded frames GStreamer may hold ahead of us (its back-pressure).
    public init(source: String, order: ChannelOrder = .rgb, queue: Int = 8) throws(VideoError) {
        self.source = source
        self.order = order
        api = try GStreamerAPI.shared()
        let input: String
        if source.hasPrefix("/dev/video") {
            input = "v4l2src device=\(GStreamerAPI.quoted(source))"
        } else if source.firstRange(of: "://") != nil {
            input = "uridecodebin uri=\(GStreamerAPI.quoted(source))"
        } else {
            guard FileManager.default.fileExists(atPath: source) else { throw .unreadable(source: source, reason: "no such file") }
            input = "filesrc location=\(GStreamerAPI.quoted(source)) ! decodebin"
        }
        let format = order == .rgb ? "RGB" : "BGR"
        let line = "\(input) ! videoconvert ! video/x-raw,format=\(format) ! appsink name=halfpipe_sink sync=false max-buffers=\(max(queue, 1)) drop=false"
        (pipeline, sink) = try api.launch(line, element: "halfpipe_sink", hint: "are gstreamer1.0-plugins-base and -good installed?")
        // PLAYING is reached asynchronously; waiting on PAUSED (preroll) surfaces unreadable files and missing decoders now.
        _ = api.gst_element_set_state(pipeline, GStreamerAPI.statePlaying)
        var state: Int32 = 0
        if api.gst_element_get_state(pipeline, &state, nil, 30_000_000_000) == GStreamerAPI.stateChangeFailure {
            let reason = api.pendingError(pipeline) ?? "GStreamer could not start decoding it"
            close()
            throw .unreadable(source: source, reason: reason + Self.hint(reason))
        }
    }

    private static func hint(_ reason: String) -> String {
        let lower = reason.lowercased()
        // typefind found no format at all: not a codec GStreamer lacks, not a video.
        if lower.firstRange(of: "could not determine type of stream") != nil {
            return " — the file is not a video GStreamer recognises (its content matches no container it knows; is it a video at all?)"
        }
        if ["missing", "no decoder", "plugin"].contains(where: { lower.firstRange(of: $0) != nil }) {
            return " — install gstreamer1.0-libav and gstreamer1.0-plugins-good for common codecs"
        }
        return ""
    }

    deinit { close() }

    private var closed = false
    private func close() {
        guard !closed else { return }
        closed = true
        _ = api.gst_element_set_state(pipeline, GStreamerAPI.stateNull)
        api.gst_object_unref(sink)
        api.gst_object_unref(pipeline)
    }

    /// The stream's length in seconds, when it has one (files do, live sources do not).
    public var duration: Double? {
        var nanoseconds: Int64 = 0
        guard api.gst_element_query_duration(pipeline, GStreamerAPI.formatTime, &nanoseconds) != 0, nanoseconds > 0 else { return nil }
        return Double(nanoseconds) / 1e9
    }

    /// The next frame, or nil at the end of the stream.
    /// - Throws: a decoding error GStreamer reports mid-stream (a truncated file).
    public func next() throws(VideoError) -> VideoFrame? {
        guard !ended, !closed else { return nil }
        while true {
            if let sample = api.gst_app_sink_try_pull_sample(sink, 1_000_000_000) {
                defer { api.gst_mini_object_unref(sample) }
                return try frame(from: sample)
            }
            if api.gst_app_sink_is_eos(sink) != 0 {
                ended = true
                stoppedEarly = earlyEnd()
                return nil
            }
            if let error = api.pendingError(pipeline) {
                // The frames before it stand; the caller decides whether a partial stream is enough.
                ended = true
                stoppedEarly = "the decoder failed after frame \(nextIndex): \(error)"
                return nil
            }
            // Nothing yet and no end: a live source between frames. Keep waiting.
        }
    }

    /// At the end of the stream: why it ended early, if it did. A truncated file ends without an
    /// error: its demuxer may warn, and its frames stop before the container's declared duration
    /// (by more than two frames' time).
    private func earlyEnd() -> String? {
        if let error = api.pendingError(pipeline) { return "the decoder failed after frame \(nextIndex): \(error)" }
        if let warning = api.pendingWarning(pipeline) { return "the stream ended after frame \(nextIndex) with a warning: \(warning)" }
        // A file cut short: its container says how long it is (GStreamer's demuxers read what is
        // there and end the stream without a word).
        if !source.hasPrefix("/dev/video"), source.firstRange(of: "://") == nil, let cut = ContainerLength.truncation(of: source) {
            return "the stream ended after \(nextIndex) frame\(nextIndex == 1 ? "" : "s"): \(cut)"
        }
        guard let duration, let fps = framesPerSecond, fps > 0 else { return nil }
        let reached = lastTimestamp.map { $0 + 1 / fps } ?? 0
        guard duration - reached > 2 / fps else { return nil }
        return "the stream ended after \(nextIndex) frame\(nextIndex == 1 ? "" : "s") (\(NumberText.fixed(reached, 2)) s) of the \(NumberText.fixed(duration, 2)) s its container declares: the file is truncated or corrupt"
    }

    private func frame(from sample: GstPointer) throws(VideoError) -> VideoFrame {
        guard let caps = api.gst_sample_get_caps(sample), let structure = api.gst_caps_get_structure(caps, 0),
              let buffer = api.gst_sample_get_buffer(sample) else {
            throw .unreadable(source: source, reason: "frame \(nextIndex) came without caps or data")
        }
        var width: Int32 = 0, height: Int32 = 0
        guard api.gst_structure_get_int(structure, "width", &width) != 0, api.gst_structure_get_int(structure, "height", &height) != 0,
              width > 0, height > 0 else {
            throw .unreadable(source: source, reason: "frame \(nextIndex) has no size in its caps")
        }
        if framesPerSecond == nil {
            var numerator: Int32 = 0, denominator: Int32 = 0
            if api.gst_structure_get_fraction(structure, "framerate", &numerator, &denominator) != 0, numerator > 0, denominator > 0 {
                framesPerSecond = Double(numerator) / Double(denominator)
            }
        }
        let pts = buffer.load(fromByteOffset: 72, as: UInt64.self)
        let timestamp = pts == GStreamerAPI.clockTimeNone ? framesPerSecond.map { Double(nextIndex) / $0 } : Double(pts) / 1e9
        let w = Int(width), h = Int(height), row = w * 3
        // videoconvert pads RGB rows to 4 bytes; the mapped size tells which.
        let info = UnsafeMutableRawPointer.allocate(byteCount: GStreamerAPI.mapInfoSize, alignment: 16)
        defer { info.deallocate() }
        guard api.gst_buffer_map(buffer, info, GStreamerAPI.mapRead) != 0 else {
            throw .unreadable(source: source, reason: "frame \(nextIndex)'s buffer cannot be mapped")
        }
        defer { api.gst_buffer_unmap(buffer, info) }
        guard let data = info.load(fromByteOffset: 16, as: UnsafeRawPointer?.self) else {
            throw .unreadable(source: source, reason: "frame \(nextIndex) has no data")
        }
        let size = info.load(fromByteOffset: 24, as: Int.self)
        let stride = size >= h * ((row + 3) & ~3) ? (row + 3) & ~3 : row
        guard size >= stride * (h - 1) + row else {
            throw .unreadable(source: source, reason: "frame \(nextIndex) holds \(size) bytes, a \(w)x\(h) RGB frame needs \(row * h)")
        }
        do {
            var pixels = try Tensor(dtype: .uint8, shape: [h, w, 3], zeroed: false)
            pixels.withUnsafeMutableBytes { out in
                for y in 0..<h { (out.baseAddress! + y * row).copyMemory(from: data + y * stride, byteCount: row) }
            }
            let image = try Image(pixels: pixels, order: order, source: "\(source)#\(nextIndex)")
            defer { nextIndex += 1 }
            if let timestamp { lastTimestamp = timestamp }
            return VideoFrame(image: image, index: nextIndex, timestamp: timestamp)
        } catch {
            throw .unreadable(source: source, reason: "frame \(nextIndex): \(error)")
        }
    }
}
