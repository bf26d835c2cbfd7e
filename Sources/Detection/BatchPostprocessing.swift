import FoundationEssentials
import Imaging
import Tensors

/// Turns one batch's outputs into each frame's detections: the CPU `Postprocessor`, or the same
/// work on a GPU. The pipeline sees only this.
public protocol BatchPostprocessing: AnyObject {
    /// Detections of the first `placements.count` images, best first, in each image's pixels.
    func detections(_ outputs: [String: Tensor], placements: [ImagePlacement]) throws -> [[Detection]]
    /// Where it runs, for the summary ("cpu", "cuda").
    var placeName: String { get }
}

/// The CPU postprocessor as a `BatchPostprocessing`.
public final class CPUPostprocessing: BatchPostprocessing {
    public let postprocessor: Postprocessor
    public init(_ postprocessor: Postprocessor) { self.postprocessor = postprocessor }
    public func detections(_ outputs: [String: Tensor], placements: [ImagePlacement]) throws -> [[Detection]] {
        try postprocessor(outputs, placements: placements)
    }
    public var placeName: String { "cpu" }
}
