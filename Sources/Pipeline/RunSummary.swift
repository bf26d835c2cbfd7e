import FoundationEssentials
import Tensors

/// The end of a detection run in words and figures: frames, FPS, where the time went per stage.
public struct RunSummary {
    public let report: PipelineReport
    public let batch: Int
    public let lanes: Int

    public init(report: PipelineReport, batch: Int, lanes: Int) {
        self.report = report
        self.batch = batch
        self.lanes = lanes
    }

    /// The share of the wall time each lane spent in inference: a GPU lane's device spans where
    /// there are any, else the host lanes' session spans.
    public var inferenceFraction: Double {
        let inference = report.stages.filter { $0.stage == .inference }
        let onDevices = inference.filter { $0.place != nil }
        let busy = (onDevices.isEmpty ? inference : onDevices).reduce(0) { $0 + $1.totalMs }
        return report.wallMs > 0 ? busy / Double(max(1, lanes)) / report.wallMs : 0
    }

    public var text: String {
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

    /// `--report`: the run's figures.
    struct JSON: Encodable {
        var frames, batches, detections, dropped, unreadable: Int
        var wall_ms, fps, inference_fraction: Double
        var batch, workers: Int
        var stages: [StageSummary]
    }

    public var json: Data {
        get throws {
            try ReportJSON.data(JSON(frames: report.frames, batches: report.batches, detections: report.detections, dropped: report.droppedFrames,
                                     unreadable: report.failedFrames, wall_ms: report.wallMs, fps: report.framesPerSecond,
                                     inference_fraction: inferenceFraction, batch: batch, workers: lanes, stages: report.stages))
        }
    }
}
