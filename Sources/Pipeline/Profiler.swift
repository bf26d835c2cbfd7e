import FoundationEssentials
import Synchronization
import Tensors

/// One stage's work on one batch (or frame), in milliseconds from the pipeline's start.
public struct Span: Sendable, Equatable {
    public var stage: Stage
    /// Which worker of the stage ran it (inference workers, decode threads).
    public var lane: Int
    /// The batch it belongs to (decode spans: the batch their frame ended up in).
    public var batch: Int
    public var frames: Int
    public var startMs: Double
    public var endMs: Double
    /// Where it ran: "" on the host, else the device ("cuda:0"), timed by the device's events.
    public var place: String = ""
    public var durationMs: Double { endMs - startMs }
}

/// The stages of a detection pipeline, in data order.
public enum Stage: String, Sendable, CaseIterable, Codable {
    /// `upload`: frames copied to a device (GPU lanes only).
    case decode, upload, preprocess, inference, postprocess, sink
}

/// Records every span of a run from any thread; summarises them and writes Chrome traces.
public final class Profiler: Sendable {
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let spans = Mutex<[Span]>([])

    public init() { start = clock.now }

    /// Milliseconds since the profiler started.
    public func now() -> Double {
        let d = clock.now - start
        return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
    }

    /// Runs `body` as a span of `stage`; its result and how long it took, in milliseconds.
    func measure<R>(_ stage: Stage, lane: Int = 0, batch: Int, frames: Int, _ body: () throws -> R) rethrows -> (result: R, ms: Double) {
        let begin = now()
        let result = try body()
        let end = now()
        record(Span(stage: stage, lane: lane, batch: batch, frames: frames, startMs: begin, endMs: end))
        return (result, end - begin)
    }

    func record(_ span: Span) { spans.withLock { $0.append(span) } }

    /// Every span so far, in start order.
    public var recorded: [Span] { spans.withLock { $0 }.sorted { $0.startMs < $1.startMs } }

    /// Per-stage figures over the run: host stages, then each device's (GPU lanes).
    public func summary() -> [StageSummary] {
        let all = recorded
        let places = [""] + Set(all.map(\.place)).subtracting([""]).sorted()
        return places.flatMap { place in
            Stage.allCases.compactMap { stage -> StageSummary? in
                let mine = all.filter { $0.stage == stage && $0.place == place }
                guard !mine.isEmpty else { return nil }
                let durations = mine.map(\.durationMs).sorted()
                return StageSummary(stage: stage, spans: mine.count, frames: mine.reduce(0) { $0 + $1.frames },
                                    totalMs: durations.reduce(0, +), p50Ms: Percentiles.value(0.5, ofSorted: durations),
                                    p90Ms: Percentiles.value(0.9, ofSorted: durations), p99Ms: Percentiles.value(0.99, ofSorted: durations),
                                    place: place.isEmpty ? nil : place)
            }
        }
    }

    /// The spans in Chrome's trace event format (opens in Perfetto and chrome://tracing): one
    /// track per stage and lane, so overlapping stages show side by side.
    public func chromeTrace() -> Data {
        let all = recorded
        var lanes: [String: Int] = [:]
        var events: [String] = []
        for span in all {
            let key = "\(span.place) \(span.stage.rawValue) \(span.lane)"
            let tid = lanes[key] ?? {
                // Device tracks after the host's, one block of ids per device lane.
                let device = span.place.isEmpty ? 0 : 1000 * (1 + span.lane)
                let id = device + (Stage.allCases.firstIndex(of: span.stage)! + 1) * 100 + (span.place.isEmpty ? span.lane : 0)
                lanes[key] = id
                let title = span.place.isEmpty ? "\(span.stage.rawValue)\(span.lane > 0 ? " \(span.lane)" : "")" : "\(span.place) lane \(span.lane) \(span.stage.rawValue)"
                events.append(#"{"name":"thread_name","ph":"M","pid":1,"tid":\#(id),"args":{"name":"\#(title)"}}"#)
                events.append(#"{"name":"thread_sort_index","ph":"M","pid":1,"tid":\#(id),"args":{"sort_index":\#(id)}}"#)
                return id
            }()
            let ts = NumberText.fixed(span.startMs * 1000, 1), dur = NumberText.fixed(span.durationMs * 1000, 1)
            events.append(#"{"name":"\#(span.stage.rawValue)","cat":"pipeline","ph":"X","pid":1,"tid":\#(tid),"ts":\#(ts),"dur":\#(dur),"args":{"batch":\#(span.batch),"frames":\#(span.frames)}}"#)
        }
        let text = #"{"displayTimeUnit":"ms","traceEvents":["# + "\n" + events.joined(separator: ",\n") + "\n]}\n"
        return Data(text.utf8)
    }
}

/// One stage's figures over a run.
public struct StageSummary: Sendable, Equatable, Codable {
    public var stage: Stage
    public var spans: Int
    public var frames: Int
    public var totalMs: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    /// The device it ran on (nil: the host).
    public var place: String?
}
