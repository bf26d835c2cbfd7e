import Dispatch
import ONNX
import Tensors

/// One constant to narrow, and where the result goes.
struct NarrowingJob: @unchecked Sendable {
    enum Site {
        case initializer(Int)
        case node(Node)
    }
    let site: Site
    let proto: Onnx_TensorProto
    let target: DType
    let tiny: TinyValuePolicy
    let scale: PendingScale?

    /// Below this many values in all (16 MB of float32), starting the worker threads costs more
    /// than they save (measured: the 5 and 11 MB PaddleOCR models got slower).
    static let parallelThreshold = 1 << 22

    func run() -> Result<(Onnx_TensorProto, ConstantClamp?), ONNXError> {
        var p = proto
        do throws(ONNXError) {
            let clamp = try ConstantNarrowing.narrow(&p, to: target, tiny: tiny, scale: scale)
            // The float32 bytes are read: let the kernel drop their file pages now, so the peak
            // holds the narrowed weights and not the file as well (ResNet-50: 166 → 67 MB; advice
            // only, a float32 copy of the constant reads them back from the page cache). Not for
            // small tensors, where the call costs more time than it saves memory.
            if proto.rawData.count >= 1 << 18 { FileBytes.releasePages(of: proto.rawData) }
            return .success((p, clamp))
        } catch {
            return .failure(error)
        }
    }

    /// Every job's result, by index. Jobs go to workers largest first, each to the least loaded
    /// (the sizes are known, so no shared counter is needed); every worker writes its own slots.
    static func runAll(_ jobs: [NarrowingJob]) -> [Result<(Onnx_TensorProto, ConstantClamp?), ONNXError>] {
        let sizes = jobs.map { $0.proto.dims.reduce(1) { $0 * Int($1) } }
        let workers = min(ParallelChunks.coreCount, jobs.count)
        guard workers > 1, sizes.reduce(0, +) >= parallelThreshold else { return jobs.map { $0.run() } }
        var assignment = [[Int]](repeating: [], count: workers)
        var load = [Int](repeating: 0, count: workers)
        for i in jobs.indices.sorted(by: { sizes[$0] > sizes[$1] }) {
            let w = load.indices.min { load[$0] < load[$1] }!
            assignment[w].append(i)
            load[w] += sizes[i]
        }
        var results = [Result<(Onnx_TensorProto, ConstantClamp?), ONNXError>](repeating: .failure(.unsupported("not run")), count: jobs.count)
        let assigned = assignment
        results.withUnsafeMutableBufferPointer { slots in
            let out = UncheckedSendable(slots)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for i in assigned[w] { out.value[i] = jobs[i].run() }
            }
        }
        return results
    }
}
