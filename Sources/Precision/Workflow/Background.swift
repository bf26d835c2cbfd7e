import Dispatch
import Tensors

/// Work handed to another core now and collected later: the validator's pass over a converted
/// model runs while the model is being written. The work must only read what it shares with the
/// caller until `wait` returns (hence the unchecked Sendable: the semaphore is the synchronisation).
public final class Background<Value>: @unchecked Sendable {
    private var value: Value?
    private var collected = false
    private let done = DispatchSemaphore(value: 0)

    public init(_ work: @escaping () -> Value) {
        let job = UncheckedSendable(work)
        DispatchQueue.global().async {
            self.value = job.value()
            self.done.signal()
        }
    }

    /// The result, waiting for it the first time; call from one thread only.
    public func wait() -> Value {
        if !collected {
            done.wait()
            collected = true
        }
        return value!
    }
}
