import Dispatch
import Foundation
@testable import Pipeline
import Testing

@Suite struct QueueAndProfilerTests {
    @Test func queueKeepsOrderAndBlocksTheProducerWhenFull() throws {
        let queue = BoundedQueue<Int>(capacity: 3, cancellation: Cancellation())
        for i in 0..<3 { #expect(queue.push(i)) }
        #expect(!queue.tryPush(99), "a full queue refuses tryPush")
        let produced = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for i in 3..<200 { queue.push(i) }
            produced.signal()
        }
        var seen: [Int] = []
        for _ in 0..<200 { seen.append(try #require(queue.pop())) }
        produced.wait()
        #expect(seen == Array(0..<200))
        #expect(queue.pop(until: .now() + .milliseconds(20)) == nil, "an empty queue times out")
    }

    @Test func cancellationReleasesBlockedStages() {
        let cancellation = Cancellation()
        let queue = BoundedQueue<Int>(capacity: 1, cancellation: cancellation)
        queue.push(1)
        struct Stop: Error {}
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { cancellation.cancel(Stop()) }
        #expect(!queue.push(2), "a producer blocked on a full queue returns once cancelled")
        #expect(cancellation.error is Stop)
    }

    @Test func traceIsChromeJSONWithATrackPerStageAndLane() throws {
        let profiler = Profiler()
        profiler.record(Span(stage: .inference, lane: 0, batch: 0, frames: 8, startMs: 1, endMs: 5))
        profiler.record(Span(stage: .inference, lane: 1, batch: 1, frames: 8, startMs: 2, endMs: 6))
        profiler.record(Span(stage: .postprocess, lane: 0, batch: 0, frames: 8, startMs: 5, endMs: 5.5))
        let json = try JSONSerialization.jsonObject(with: profiler.chromeTrace()) as! [String: Any]
        let events = json["traceEvents"] as! [[String: Any]]
        let spans = events.filter { $0["ph"] as? String == "X" }
        #expect(spans.count == 3)
        #expect(Set(spans.map { $0["tid"] as! Int }).count == 3)
        #expect(spans.first { ($0["args"] as! [String: Any])["batch"] as? Int == 1 }?["ts"] as? Double == 2000)
        let summary = profiler.summary()
        #expect(summary.map(\.stage) == [.inference, .postprocess])
        #expect(summary[0].frames == 16 && summary[0].totalMs == 8)
    }
}
