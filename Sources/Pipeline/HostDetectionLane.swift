import Detection
import FoundationEssentials
import Imaging
import Inference
import Tensors

/// A lane whose model runs with host inputs and outputs: a session on the CPU (ONNX Runtime), or
/// an engine whose nodes need the host. `submit` preprocesses the batch on the CPU and runs the
/// session on the lane's thread; `wait`, called in batch order by the pipeline's reorder stage,
/// decodes and suppresses the boxes (on the CPU, or a GPU postprocessor that reads host outputs).
/// Several host lanes side by side are the CPU's inference workers.
public final class HostDetectionLane: DetectionLane, @unchecked Sendable {
    public let place: String
    public let batchSize: Int
    let session: any Session
    let inputName: String
    let preprocessor: Preprocessor
    let postprocessor: any BatchPostprocessing
    /// A fixed-batch model's batch: partial batches are padded to it (nil: batches go as they are).
    let paddedBatch: Int?
    private var clock: @Sendable () -> Double = { 0 }

    /// - Parameters:
    ///   - session: the lane's own session (a lane runs one batch at a time on it).
    ///   - batchSize: the most frames a submission holds; `paddedBatch` when the model fixes its batch.
    ///   - postprocessor: shared by the lanes of a pipeline: `wait` runs on the one reorder thread.
    public init(session: any Session, inputName: String, preprocessor: Preprocessor, postprocessor: any BatchPostprocessing, batchSize: Int,
                paddedBatch: Int? = nil) throws(PipelineError) {
        guard batchSize >= 1 else { throw .badConfiguration("a lane needs a batch of at least 1, got \(batchSize)") }
        if let paddedBatch, paddedBatch < batchSize {
            throw .badConfiguration("the model takes batches of exactly \(paddedBatch); a batch of \(batchSize) does not fit")
        }
        guard session.inputs.contains(where: { $0.name == inputName }) else {
            throw .badModel("\(session.source) has no input '\(inputName)' (inputs: \(session.inputs.map(\.name).joined(separator: ", ")))")
        }
        self.session = session
        self.inputName = inputName
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.batchSize = paddedBatch ?? batchSize
        self.paddedBatch = paddedBatch
        place = session.device.description
    }

    public func start(clock: @escaping @Sendable () -> Double, cancelled: @escaping @Sendable () -> Bool) throws { self.clock = clock }

    public func submit(_ pictures: [PictureInput]) throws -> LaneSubmission {
        let begin = clock()
        let images = try pictures.map { try $0.hostImage() }
        let (tensor, placements) = try preprocessor.batch(images, size: paddedBatch ?? images.count)
        let preprocessed = clock()
        let outputs = try session.run([inputName: tensor])
        let inferred = clock()
        let postprocessor = postprocessor
        return LaneSubmission(placements: placements, hostSpans: [(.preprocess, begin, preprocessed), (.inference, preprocessed, inferred)]) {
            let clock = ContinuousClock(), start = clock.now
            let detections = try postprocessor.detections(outputs, placements: placements)
            return LaneOutcome(detections: detections, deviceSpans: [], hostMs: (clock.now - start).milliseconds)
        }
    }
}
