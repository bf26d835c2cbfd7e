import Dispatch
import FoundationEssentials
import Synchronization

/// A first-in first-out queue of at most `capacity` items between two pipeline stages: a full
/// queue blocks its producer (back-pressure), an empty one its consumer. Every wait also watches
/// the pipeline's `Cancellation`, so a failing stage never leaves another blocked forever.
final class BoundedQueue<Element: Sendable>: Sendable {
    let capacity: Int
    private let items = DispatchSemaphore(value: 0)
    private let slots: DispatchSemaphore
    /// Items in order from `first`; slots before it are spent.
    private struct Line: ~Copyable {
        var buffer: [Element?] = []
        var first = 0
    }
    private let line = Mutex(Line())
    private let cancellation: Cancellation

    init(capacity: Int, cancellation: Cancellation) {
        self.capacity = max(1, capacity)
        // Made at 0 and raised: libdispatch traps when a semaphore is freed below its initial value,
        // which a cancelled pipeline's half-full queue would be.
        slots = DispatchSemaphore(value: 0)
        for _ in 0..<self.capacity { slots.signal() }
        self.cancellation = cancellation
    }

    /// How often a blocked wait looks at the cancellation flag.
    private var poll: DispatchTimeInterval { .milliseconds(50) }

    /// Appends `element`, waiting while the queue is full. False when the pipeline was cancelled.
    @discardableResult
    func push(_ element: Element) -> Bool {
        while slots.wait(timeout: .now() + poll) == .timedOut {
            if cancellation.isCancelled { return false }
        }
        append(element)
        return true
    }

    /// Appends `element` only if there is room now (live sources that drop rather than wait).
    func tryPush(_ element: Element) -> Bool {
        guard slots.wait(timeout: .now()) == .success else { return false }
        append(element)
        return true
    }

    private func append(_ element: Element) {
        line.withLock { $0.buffer.append(element) }
        items.signal()
    }

    /// The next item, waiting while the queue is empty; nil when the pipeline was cancelled.
    func pop() -> Element? {
        while items.wait(timeout: .now() + poll) == .timedOut {
            if cancellation.isCancelled { return nil }
        }
        return take()
    }

    /// The next item if one arrives by `deadline`; nil on time-out or cancellation.
    func pop(until deadline: DispatchTime) -> Element? {
        while true {
            let step = min(deadline, .now() + poll)
            if items.wait(timeout: step) == .success { return take() }
            if cancellation.isCancelled || DispatchTime.now() >= deadline { return nil }
        }
    }

    private func take() -> Element {
        let element = line.withLock { line in
            let element = line.buffer[line.first]!
            line.buffer[line.first] = nil
            line.first += 1
            // Compact now and then so the array does not grow without bound.
            if line.first > 64 && line.first * 2 > line.buffer.count {
                line.buffer.removeFirst(line.first)
                line.first = 0
            }
            return element
        }
        slots.signal()
        return element
    }
}

/// A flag every stage and queue of one pipeline watches: set by the first failure (or the caller).
final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    private let reason = Mutex<(any Error)?>(nil)

    var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Cancels with `error` as the pipeline's failure (the first one wins).
    func cancel(_ error: any Error) {
        reason.withLock { if $0 == nil { $0 = error } }
        flag.store(true, ordering: .releasing)
    }

    var error: (any Error)? { reason.withLock { $0 } }
}
