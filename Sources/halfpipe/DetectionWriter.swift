#if canImport(Glibc)
import Glibc
#endif
import Detection
import FoundationEssentials
import Imaging
import Pipeline
import Tensors

/// Where `detect`'s results go: JSON lines (standard output or a file), COCO results, annotated
/// images or video. Files are written beside their destination and renamed into place at the
/// end, so a failed run leaves nothing half written.
final class DetectionWriter {
    private let names: ClassNames
    private let linesPath: String?
    private var lines: UnsafeMutablePointer<FILE>?
    private let cocoPath: String?
    private var cocoEntries: [String] = []
    private let annotatePath: String?
    private let annotateVideo: Bool
    private var video: VideoWriter?
    private var writtenImages: Set<String> = []
    private let drawing = BoxDrawing()
    private let source: any FrameSource

    init(command: Detect, names: ClassNames, source: any FrameSource) throws {
        self.names = names
        self.source = source
        linesPath = command.output
        cocoPath = command.coco
        annotatePath = command.annotate
        if let output = command.output {
            guard let file = fopen(output + ".partial", "w") else { throw CLIError("-o \(output): cannot create the file: \(String(cString: strerror(errno)))") }
            lines = file
        }
        let ext = command.annotate?.split(separator: ".").last.map { $0.lowercased() } ?? ""
        annotateVideo = ["avi", "mp4", "mov", "mkv"].contains(ext)
        if let annotate = command.annotate, !annotateVideo {
            do { try FileManager.default.createDirectory(atPath: annotate, withIntermediateDirectories: true) } catch {
                throw CLIError("--annotate \(annotate): cannot create the folder: \(error)")
            }
        }
    }

    /// One batch's lines, COCO entries and drawings.
    func write(_ batch: BatchResult) throws {
        var text = ""
        for frame in batch.frames {
            text += line(frame) + "\n"
            if cocoPath != nil { cocoEntries += coco(frame) }
            if let image = frame.image, annotatePath != nil { try draw(frame, image) }
        }
        if let lines {
            guard fputs(text, lines) >= 0 else { throw CLIError("-o \(linesPath!): write failed: \(String(cString: strerror(errno)))") }
        } else {
            _ = text.withCString { Glibc.write(1, $0, strlen($0)) }
        }
    }

    private static func number(_ value: Float, _ decimals: Int) -> String { NumberText.fixed(Double(value), decimals) }

    private func line(_ frame: FrameResult) -> String {
        let info = frame.info
        var fields = [#""frame":\#(info.index)"#, #""source":\#(Self.quoted(info.source))"#, #""source_frame":\#(info.sourceFrame)"#]
        fields.append(#""timestamp":\#(info.timestamp.map { NumberText.fixed($0, 3) } ?? "null")"#)
        fields.append(#""width":\#(info.width)"#)
        fields.append(#""height":\#(info.height)"#)
        let boxes = frame.detections.map { d in
            let b = d.box
            return #"{"box":[\#(Self.number(b.x1, 2)),\#(Self.number(b.y1, 2)),\#(Self.number(b.x2, 2)),\#(Self.number(b.y2, 2))],"class":\#(d.classIndex),"label":\#(Self.quoted(names.label(d.classIndex))),"score":\#(Self.number(d.score, 5))}"#
        }
        fields.append(#""detections":[\#(boxes.joined(separator: ","))]"#)
        if let error = frame.error { fields.append(#""error":\#(Self.quoted(error))"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// COCO's image id: the file name's number (COCO's own files are 000000000139.jpg), else the frame index.
    private func coco(_ frame: FrameResult) -> [String] {
        let stem = frame.info.source.split(separator: "/").last.map { $0.split(separator: ".").first.map(String.init) ?? "" } ?? ""
        let id = frame.info.sourceFrame == 0 && !stem.isEmpty && stem.allSatisfy(\.isNumber) ? Int(stem) ?? frame.info.index : frame.info.index
        return frame.detections.map { d in
            let b = d.box
            return #"{"image_id":\#(id),"category_id":\#(d.classIndex),"bbox":[\#(Self.number(b.x1, 2)),\#(Self.number(b.y1, 2)),\#(Self.number(b.width, 2)),\#(Self.number(b.height, 2))],"score":\#(Self.number(d.score, 5))}"#
        }
    }

    private func draw(_ frame: FrameResult, _ image: Image) throws {
        let drawn = try drawing.draw(frame.detections, on: image)
        guard let annotatePath else { return }
        if annotateVideo {
            if video == nil {
                let reader = (source as? VideoSource) ?? ((source as? LimitedSource)?.underlying as? VideoSource)
                let fps = reader?.framesPerSecond ?? 25
                self.video = try VideoWriter(path: annotatePath, width: image.width, height: image.height, framesPerSecond: fps)
            }
            try self.video!.write(drawn)
            return
        }
        let base = frame.info.source.split(separator: "/").last.map(String.init) ?? "frame"
        var name = frame.info.timestamp == nil && frame.info.sourceFrame == 0 ? base : "\(base)-\(frame.info.sourceFrame)"
        if let dot = name.lastIndex(of: "."), frame.info.timestamp == nil { name = String(name[..<dot]) }
        if writtenImages.contains(name) { name += "-\(frame.info.index)" }
        writtenImages.insert(name)
        try JPEGEncoder.write(drawn, to: annotatePath + "/" + name + ".jpg")
    }

    /// Closes every output and moves the files into place.
    func finish() throws {
        if let lines, let linesPath {
            self.lines = nil
            guard fclose(lines) == 0 else { throw CLIError("-o \(linesPath): write failed: \(String(cString: strerror(errno)))") }
            try Self.moveIntoPlace(linesPath + ".partial", linesPath)
        }
        if let cocoPath { try FileBytes.writeAtomically(Data(("[\n" + cocoEntries.joined(separator: ",\n") + "\n]\n").utf8), to: cocoPath) }
        if let video { try video.finish() }
    }

    /// Removes what a failed run started.
    func abandon() {
        if let lines, let linesPath {
            fclose(lines)
            self.lines = nil
            unlink(linesPath + ".partial")
        }
        video = nil
    }

    private static func moveIntoPlace(_ temporary: String, _ path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError("\(path): cannot move the finished file into place: \(reason)")
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// The end-of-run summary: frames, FPS, where the time went per stage.
struct DetectSummary {
    let report: PipelineReport
    let setup: DetectSetup

    var inferenceFraction: Double {
        // A GPU lane's inference is its device spans; the host path's, its sessions' spans.
        let inference = report.stages.filter { $0.stage == .inference && ($0.place != nil) == !setup.lanes.isEmpty }.reduce(0) { $0 + $1.totalMs }
        return report.wallMs > 0 ? inference / Double(max(1, setup.workerCount)) / report.wallMs : 0
    }

    var text: String {
        var lines = ["detect: \(report.frames) frames in \(report.batches) batches, \(report.detections) detections, "
            + "\(NumberText.fixed(report.framesPerSecond, 1)) fps (\(NumberText.fixed(report.wallMs / 1000, 2)) s)"
            + (report.droppedFrames > 0 ? ", \(report.droppedFrames) dropped" : "") + (report.failedFrames > 0 ? ", \(report.failedFrames) unreadable" : "")]
        for s in report.stages {
            let label = (s.place.map { "\($0) " } ?? "") + s.stage.rawValue
            let name = label + String(repeating: " ", count: max(0, 12 - label.count))
            lines.append("  \(name) p50 \(NumberText.fixed(s.p50Ms, 2)) ms  p90 \(NumberText.fixed(s.p90Ms, 2)) ms  "
                + "p99 \(NumberText.fixed(s.p99Ms, 2)) ms  total \(NumberText.fixed(s.totalMs / 1000, 2)) s over \(s.spans) spans")
        }
        lines.append("  inference busy \(NumberText.fixed(inferenceFraction * 100, 1)) % of the wall time")
        return lines.joined(separator: "\n")
    }

    /// `--report`: the run's figures, written as every command writes its reports.
    struct JSON: Encodable {
        var frames, batches, detections, dropped, unreadable: Int
        var wall_ms, fps, inference_fraction: Double
        var batch, workers: Int
        var stages: [StageSummary]
    }

    var json: Data {
        get throws {
            try ReportJSON.data(JSON(frames: report.frames, batches: report.batches, detections: report.detections, dropped: report.droppedFrames,
                                     unreadable: report.failedFrames, wall_ms: report.wallMs, fps: report.framesPerSecond,
                                     inference_fraction: inferenceFraction, batch: setup.batch, workers: setup.workerCount, stages: report.stages))
        }
    }
}
