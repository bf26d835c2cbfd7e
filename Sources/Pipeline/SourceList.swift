import FoundationEssentials
import Imaging

/// Opens a command line's sources in order as one source: videos and streams through GStreamer,
/// still images (files and folders, decoded on every core), .npy frame arrays.
public enum SourceList {
    public static let videoExtensions: Set<String> = ["avi", "mp4", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "ts", "flv", "wmv", "ogv", "3gp"]

    /// - Parameter jpegsOnGPU: JPEG files stay compressed (a GPU lane decodes them).
    public static func open(_ paths: [String], order: ChannelOrder, jpegsOnGPU: Bool = false) throws -> any FrameSource {
        var sources: [any FrameSource] = []
        var images: [String] = []
        func flushImages() {
            if !images.isEmpty { sources.append(ImageFileSource(files: images, order: order, jpegsStayEncoded: jpegsOnGPU)); images = [] }
        }
        for path in paths {
            let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
            if path.hasPrefix("/dev/video") || path.firstRange(of: "://") != nil || videoExtensions.contains(ext) {
                flushImages()
                sources.append(try VideoSource(path, order: order))
            } else if ext == "npy" {
                flushImages()
                sources.append(ArraySource(files: [path]))
            } else {
                images += try ImageFiles.expand([path])
            }
        }
        flushImages()
        return sources.count == 1 ? sources[0] : SourceSequence(sources)
    }
}
