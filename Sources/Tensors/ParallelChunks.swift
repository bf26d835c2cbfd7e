import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Splits element-wise work over the CPU cores when it is big enough to pay for the threads.
public enum ParallelChunks {
    /// Below this many elements one core finishes before threads would start (~0.25 ms of work).
    static let minimumElementsPerChunk = 1 << 18

    public static let coreCount: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }()

    /// Calls `body` on disjoint, 64-element aligned ranges covering `0..<count`, possibly concurrently.
    static func run(count: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(coreCount, count / minimumElementsPerChunk)
        guard chunks > 1 else {
            body(0..<count)
            return
        }
        let step = ((count + chunks - 1) / chunks + 63) & ~63
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = chunk * step
                let end = min(count, start + step)
                if start < end { work.value(start..<end) }
            }
        }
    }
}

/// Carries a value the caller guarantees is only used for disjoint work (raw buffers split by range).
/// Public so every module that hands pointers to worker threads uses this one wrapper.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
