#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Detection
import FoundationEssentials
import Imaging
import Tensors

/// Where a detection run's results go: JSON lines (standard output or a file), COCO results,
/// annotated images or a video. Files are written under temporary names and renamed into place at
/// the end (`AtomicFile`), so a failed run leaves nothing half written.
public final class DetectionSink {
    /// Where the JSON lines go.
    public enum Lines: Sendable, Equatable {
        case standardOutput
        case file(String)
    }

    private let names: ClassNames
    private let lines: AtomicFile?
    private let coco: String?
    private var cocoEntries: [String] = []
    private let annotate: String?
    private let annotatesVideo: Bool
    private var video: VideoWriter?
    private var writtenImages: Set<String> = []
    private let drawing = BoxDrawing()
    private let source: any FrameSource

    /// Video containers `annotate` may name; any other path is a folder of JPEGs.
    public static let videoExtensions: Set<String> = ["avi", "mp4", "mov", "mkv"]

    /// Refuses, before a run, an annotated video this machine cannot encode (see `VideoWriter.requireEncoder`).
    public static func requireEncoder(annotating path: String) throws {
        if annotatesVideo(path) { try VideoWriter.requireEncoder(for: path) }
    }

    /// Whether annotating into `path` writes a video (else a folder of JPEGs).
    public static func annotatesVideo(_ path: String) -> Bool {
        videoExtensions.contains(path.split(separator: ".").last.map { $0.lowercased() } ?? "")
    }

    /// - Parameters:
    ///   - coco: a COCO results file to write at the end.
    ///   - annotate: a folder for annotated pictures, or a video file (see `videoExtensions`).
    ///   - source: the run's source (a video's frame rate sets the annotated video's).
    public init(lines: Lines, coco: String?, annotate: String?, names: ClassNames, source: any FrameSource) throws {
        self.names = names
        self.source = source
        self.coco = coco
        self.annotate = annotate
        if case .file(let path) = lines { self.lines = try AtomicFile(path) } else { self.lines = nil }
        annotatesVideo = annotate.map(Self.annotatesVideo) ?? false
        if let annotate, !annotatesVideo {
            do { try FileManager.default.createDirectory(atPath: annotate, withIntermediateDirectories: true) } catch {
                throw PipelineError.badConfiguration("--annotate \(annotate): cannot create the folder: \(error)")
            }
        }
    }

    /// One batch's lines, COCO entries and drawings.
    public func write(_ batch: BatchResult) throws {
        var text = ""
        for frame in batch.frames {
            text += try ReportJSON.line(FrameRecord(frame, names: names)) + "\n"
            if coco != nil { cocoEntries += try COCORecord.records(frame).map(ReportJSON.line) }
            if let image = frame.image, annotate != nil { try draw(frame, image) }
        }
        if let lines {
            try lines.append(text)
        } else {
            _ = text.withCString { writeStandardOutput($0) }
        }
    }

    private func draw(_ frame: FrameResult, _ image: Image) throws {
        let drawn = try drawing.draw(frame.detections, on: image)
        guard let annotate else { return }
        if annotatesVideo {
            if video == nil {
                let reader = (source as? VideoSource) ?? ((source as? LimitedSource)?.underlying as? VideoSource)
                video = try VideoWriter(path: annotate, width: image.width, height: image.height, framesPerSecond: reader?.framesPerSecond ?? 25)
            }
            try video!.write(drawn)
            return
        }
        let base = frame.info.source.split(separator: "/").last.map(String.init) ?? "frame"
        var name = frame.info.timestamp == nil && frame.info.sourceFrame == 0 ? base : "\(base)-\(frame.info.sourceFrame)"
        if let dot = name.lastIndex(of: "."), frame.info.timestamp == nil { name = String(name[..<dot]) }
        if writtenImages.contains(name) { name += "-\(frame.info.index)" }
        writtenImages.insert(name)
        try JPEGEncoder.write(drawn, to: annotate + "/" + name + ".jpg")
    }

    /// Closes every output and moves the files into place.
    public func finish() throws {
        try lines?.commit()
        if let coco { try FileBytes.writeAtomically(Data(("[\n" + cocoEntries.joined(separator: ",\n") + "\n]\n").utf8), to: coco) }
        if let video { try video.finish() }
    }

    /// Removes what a failed run started.
    public func abandon() {
        lines?.abandon()
        video = nil
    }
}

/// write(2) to standard output: lines go out as they are made, with no FILE* buffer shared with print.
private func writeStandardOutput(_ text: UnsafePointer<CChar>) -> Int { write(1, text, strlen(text)) }
