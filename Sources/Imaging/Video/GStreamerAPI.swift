#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Tensors

// GStreamer 1.x (libgstreamer, libgstapp) and GLib, loaded with dlopen at run time: our own
// declarations of the documented C signatures. Every GStreamer object is an opaque pointer here.
// Three structures are read in place, at offsets fixed by GStreamer 1.x's stable ABI (checked
// against the 1.22 headers): GstBuffer's pts (72) and duration (88), GstMessage's type (64),
// GstMapInfo's data (16) and size (24) in its 104 bytes, and GError's message (8).
typealias GstPointer = UnsafeMutableRawPointer

struct GStreamerAPI: @unchecked Sendable {
    let gst_init_check: @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<GstPointer?>?) -> Int32
    let gst_parse_launch: @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<GstPointer?>?) -> GstPointer?
    let gst_bin_get_by_name: @convention(c) (GstPointer, UnsafePointer<CChar>) -> GstPointer?
    let gst_element_factory_find: @convention(c) (UnsafePointer<CChar>) -> GstPointer?
    let gst_element_set_state: @convention(c) (GstPointer, Int32) -> Int32
    let gst_element_get_state: @convention(c) (GstPointer, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UInt64) -> Int32
    let gst_element_get_bus: @convention(c) (GstPointer) -> GstPointer?
    let gst_element_query_duration: @convention(c) (GstPointer, Int32, UnsafeMutablePointer<Int64>?) -> Int32
    let gst_bus_timed_pop_filtered: @convention(c) (GstPointer, UInt64, UInt32) -> GstPointer?
    let gst_message_parse_error: @convention(c) (GstPointer, UnsafeMutablePointer<GstPointer?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Void
    let gst_message_parse_warning: @convention(c) (GstPointer, UnsafeMutablePointer<GstPointer?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Void
    let gst_mini_object_unref: @convention(c) (GstPointer) -> Void
    let gst_object_unref: @convention(c) (GstPointer) -> Void
    let gst_sample_get_caps: @convention(c) (GstPointer) -> GstPointer?
    let gst_sample_get_buffer: @convention(c) (GstPointer) -> GstPointer?
    let gst_caps_get_structure: @convention(c) (GstPointer, UInt32) -> GstPointer?
    let gst_caps_from_string: @convention(c) (UnsafePointer<CChar>) -> GstPointer?
    let gst_structure_get_int: @convention(c) (GstPointer, UnsafePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    let gst_structure_get_fraction: @convention(c) (GstPointer, UnsafePointer<CChar>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    let gst_structure_get_string: @convention(c) (GstPointer, UnsafePointer<CChar>) -> UnsafePointer<CChar>?
    let gst_buffer_map: @convention(c) (GstPointer, GstPointer, UInt32) -> Int32
    let gst_buffer_unmap: @convention(c) (GstPointer, GstPointer) -> Void
    let gst_buffer_new_allocate: @convention(c) (GstPointer?, Int, GstPointer?) -> GstPointer?
    let gst_buffer_fill: @convention(c) (GstPointer, Int, UnsafeRawPointer, Int) -> Int
    let gst_app_sink_try_pull_sample: @convention(c) (GstPointer, UInt64) -> GstPointer?
    let gst_app_sink_is_eos: @convention(c) (GstPointer) -> Int32
    let gst_app_src_push_buffer: @convention(c) (GstPointer, GstPointer) -> Int32
    let gst_app_src_end_of_stream: @convention(c) (GstPointer) -> Int32
    let g_error_free: @convention(c) (GstPointer) -> Void
    let g_free: @convention(c) (UnsafeMutableRawPointer?) -> Void

    // Enumerations and flags we use (GStreamer 1.x).
    static let stateNull: Int32 = 1, statePaused: Int32 = 3, statePlaying: Int32 = 4
    static let stateChangeFailure: Int32 = 0
    static let messageEOS: UInt32 = 1, messageError: UInt32 = 2, messageWarning: UInt32 = 4
    static let formatTime: Int32 = 3
    static let mapRead: UInt32 = 1
    static let clockTimeNone = UInt64.max
    static let flowOK: Int32 = 0
    static let mapInfoSize = 104

    init(gst: DynamicLibrary, app: DynamicLibrary, glib: DynamicLibrary) throws(DynamicLibraryError) {
        gst_init_check = try gst.symbol("gst_init_check"); gst_parse_launch = try gst.symbol("gst_parse_launch")
        gst_bin_get_by_name = try gst.symbol("gst_bin_get_by_name"); gst_element_factory_find = try gst.symbol("gst_element_factory_find")
        gst_element_set_state = try gst.symbol("gst_element_set_state")
        gst_element_get_state = try gst.symbol("gst_element_get_state"); gst_element_get_bus = try gst.symbol("gst_element_get_bus")
        gst_element_query_duration = try gst.symbol("gst_element_query_duration")
        gst_bus_timed_pop_filtered = try gst.symbol("gst_bus_timed_pop_filtered"); gst_message_parse_error = try gst.symbol("gst_message_parse_error")
        gst_message_parse_warning = try gst.symbol("gst_message_parse_warning")
        gst_mini_object_unref = try gst.symbol("gst_mini_object_unref"); gst_object_unref = try gst.symbol("gst_object_unref")
        gst_sample_get_caps = try gst.symbol("gst_sample_get_caps"); gst_sample_get_buffer = try gst.symbol("gst_sample_get_buffer")
        gst_caps_get_structure = try gst.symbol("gst_caps_get_structure"); gst_caps_from_string = try gst.symbol("gst_caps_from_string")
        gst_structure_get_int = try gst.symbol("gst_structure_get_int"); gst_structure_get_fraction = try gst.symbol("gst_structure_get_fraction")
        gst_structure_get_string = try gst.symbol("gst_structure_get_string")
        gst_buffer_map = try gst.symbol("gst_buffer_map"); gst_buffer_unmap = try gst.symbol("gst_buffer_unmap")
        gst_buffer_new_allocate = try gst.symbol("gst_buffer_new_allocate"); gst_buffer_fill = try gst.symbol("gst_buffer_fill")
        gst_app_sink_try_pull_sample = try app.symbol("gst_app_sink_try_pull_sample"); gst_app_sink_is_eos = try app.symbol("gst_app_sink_is_eos")
        gst_app_src_push_buffer = try app.symbol("gst_app_src_push_buffer"); gst_app_src_end_of_stream = try app.symbol("gst_app_src_end_of_stream")
        g_error_free = try glib.symbol("g_error_free"); g_free = try glib.symbol("g_free")
    }

    /// The process's GStreamer, loaded and initialised once; the failure, once, for every caller.
    static func shared() throws(VideoError) -> GStreamerAPI { try loaded.get() }

    private static let loaded: Result<GStreamerAPI, VideoError> = {
        let install = "install GStreamer: apt-get install libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav (or run make setup)"
        do {
            let api = try GStreamerAPI(gst: DynamicLibrary.open(["libgstreamer-1.0.so.0"]), app: DynamicLibrary.open(["libgstapp-1.0.so.0"]),
                                       glib: DynamicLibrary.open(["libglib-2.0.so.0"]))
            var error: GstPointer?
            guard api.gst_init_check(nil, nil, &error) != 0 else {
                return .failure(.unavailable("GStreamer did not initialise: \(api.take(error) ?? "no reason given")"))
            }
            return .success(api)
        } catch {
            return .failure(.unavailable("\(error); \(install)"))
        }
    }()

    /// A GError's message, freeing the error.
    func take(_ error: GstPointer?) -> String? {
        guard let error else { return nil }
        defer { g_error_free(error) }
        return error.load(fromByteOffset: 8, as: UnsafePointer<CChar>?.self).map { String(cString: $0) }
    }

    /// The first error message waiting on `element`'s bus (after up to `timeout` ns), with its debug detail.
    func pendingError(_ element: GstPointer, timeout: UInt64 = 0) -> String? {
        pendingMessage(element, type: Self.messageError, timeout: timeout)
    }

    /// The first warning waiting on `element`'s bus (a demuxer that met a truncated file warns
    /// and then ends the stream), with its debug detail.
    func pendingWarning(_ element: GstPointer) -> String? {
        pendingMessage(element, type: Self.messageWarning, timeout: 0)
    }

    /// An error or warning message's text and debug detail: both carry a GError and a string.
    private func pendingMessage(_ element: GstPointer, type: UInt32, timeout: UInt64) -> String? {
        guard let bus = gst_element_get_bus(element) else { return nil }
        defer { gst_object_unref(bus) }
        guard let message = gst_bus_timed_pop_filtered(bus, timeout, type) else { return nil }
        defer { gst_mini_object_unref(message) }
        var error: GstPointer?
        var debug: UnsafeMutablePointer<CChar>?
        (type == Self.messageError ? gst_message_parse_error : gst_message_parse_warning)(message, &error, &debug)
        defer { g_free(debug) }
        let text = take(error) ?? (type == Self.messageError ? "unknown error" : "unknown warning")
        return debug.map { "\(text) (\(String(cString: $0)))" } ?? text
    }

    /// Whether GStreamer has an element factory of this name (an installed plugin provides it).
    func hasElement(_ name: String) -> Bool {
        guard let factory = gst_element_factory_find(name) else { return false }
        gst_object_unref(factory)
        return true
    }

    /// Waits for end of stream or an error on `element`'s bus, at most `timeout` nanoseconds (the
    /// watchdog: a stalled encoder or muxer ends the wait with a message, never hangs the run);
    /// the error's text, nil at end of stream.
    func waitForEnd(_ element: GstPointer, timeout: UInt64) -> String? {
        guard let bus = gst_element_get_bus(element) else { return "the pipeline has no bus" }
        defer { gst_object_unref(bus) }
        guard let message = gst_bus_timed_pop_filtered(bus, timeout, Self.messageEOS | Self.messageError) else {
            return "GStreamer did not finish within \(timeout / 1_000_000_000) s (a stalled encoder or muxer)"
        }
        defer { gst_mini_object_unref(message) }
        guard message.load(fromByteOffset: 64, as: UInt32.self) == Self.messageError else { return nil }
        var error: GstPointer?
        var debug: UnsafeMutablePointer<CChar>?
        gst_message_parse_error(message, &error, &debug)
        defer { g_free(debug) }
        return take(error) ?? "unknown error"
    }

    /// The pipeline of a launch line and its element named `name` (our appsink or appsrc).
    /// - Parameter hint: what to install when the line does not build (its elements' packages).
    /// Builds a pipeline. `strict`: a recoverable parse error (an element GStreamer does not have)
    /// is an error now; otherwise what is really missing fails when the pipeline starts. An encoding
    /// pipeline must be strict: with an element missing, its source blocks forever on the first frame.
    func launch(_ line: String, element name: String, hint: String, strict: Bool = false) throws(VideoError) -> (pipeline: GstPointer, element: GstPointer) {
        var error: GstPointer?
        guard let pipeline = gst_parse_launch(line, &error) else {
            throw .unavailable("cannot build the pipeline \"\(line)\": \(take(error) ?? "no reason given") — \(hint)")
        }
        if let problem = take(error), strict {
            gst_object_unref(pipeline)
            throw .unavailable("cannot build the pipeline \"\(line)\": \(problem) — \(hint)")
        }
        guard let element = gst_bin_get_by_name(pipeline, name) else {
            gst_object_unref(pipeline)
            throw .unavailable("the pipeline has no \(name) — is gstreamer1.0-plugins-base installed?")
        }
        return (pipeline, element)
    }

    /// A launch line's value quoted for `gst_parse_launch` (paths with spaces or quotes).
    static func quoted(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
