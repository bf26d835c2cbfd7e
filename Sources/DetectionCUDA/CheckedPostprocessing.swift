import Detection
import FoundationEssentials
import Imaging
import Synchronization
import Tensors

/// Runs every batch on the GPU and on the CPU and keeps the tally of how they agree (`detect
/// --postprocess cuda --check-postprocess`); the GPU's detections go on.
public final class CheckedPostprocessing: BatchPostprocessing, @unchecked Sendable {
    public let gpu: GPUPostprocessor
    /// Boxes must overlap their CPU partner at least this much (the GPU's expf may differ by an ulp).
    public let minimumIoU: Float
    private let tally = Mutex(DetectionAgreement())
    private let cpuTimes = Mutex<[Double]>([])

    public init(_ gpu: GPUPostprocessor, minimumIoU: Float = 0.999) {
        self.gpu = gpu
        self.minimumIoU = minimumIoU
    }

    public var placeName: String { "cuda, checked against the cpu" }

    public func detections(_ outputs: [String: Tensor], placements: [ImagePlacement]) throws -> [[Detection]] {
        let onGPU = try gpu.detections(outputs, placements: placements)
        let clock = ContinuousClock()
        let start = clock.now
        var postprocessor = gpu.cpu
        // The CPU keeps as many candidates as the GPU holds, so an overflowing frame compares like with like.
        postprocessor.maxCandidates = GPUPostprocessor.capacity
        let onCPU = try postprocessor(outputs, placements: placements)
        let elapsed = (clock.now - start).milliseconds
        cpuTimes.withLock { $0.append(elapsed) }
        tally.withLock { $0.add(onGPU, onCPU, minimumIoU: minimumIoU) }
        return onGPU
    }

    public var agreement: DetectionAgreement { tally.withLock { $0 } }
    public var cpuMilliseconds: [Double] { cpuTimes.withLock { $0 } }
}
