import Detection
import Imaging
import Inference
import Precision

/// What a detection run asks for, as plain values: the command line maps its options to this and
/// `DetectionSetup.make` does the rest.
public struct DetectionRequest: Sendable {
    public var model: String
    /// The devices the lanes run on: [.cpu], one GPU, or every GPU (resolved against the machine).
    public var devices: [Device]
    /// Frames per batch (0: 1 on a CPU, where sessions side by side beat batches; 8 on a GPU).
    public var batch = 0
    /// Lanes per device (0: two on a CPU of two or more cores, one on a GPU).
    public var workers = 0
    /// The session's threads, as given (0: each CPU lane takes its share of the cores).
    public var threads = 0
    /// The head decoder (nil: recognised from the outputs).
    public var decoder: HeadLayout?
    public var score: Float = 0.25
    public var iou: Float = 0.45
    public var maxDetections = 300
    public var classAgnostic = false
    /// A box for every class above the score at an anchor (nil: as the family's exporter does:
    /// PaddleDetection's GFL heads keep every class, Ultralytics and YOLOX the best one).
    public var multiLabel: Bool?
    public var postprocess: PostprocessPlace = .auto
    /// Run the CPU postprocess beside a GPU one on every batch and compare.
    public var checkPostprocess = false
    public var jpegDecoding: DecodePlace = .auto
    /// Frames are drawn on after the run (decoded on the host, then).
    public var annotates = false
    public var images = ImageFeedRequest()

    public init(model: String, devices: [Device]) {
        self.model = model
        self.devices = devices
    }
}

/// Where boxes are decoded and suppressed.
public enum PostprocessPlace: Sendable, Equatable, CustomStringConvertible {
    /// On the GPU lane with a GPU device, else the CPU.
    case auto
    case cpu
    /// On this GPU, reading the host path's outputs (whole batches in four kernels).
    case cuda(Int)

    public var description: String {
        switch self {
        case .auto: "auto"
        case .cpu: "cpu"
        case .cuda(let n): "cuda:\(n)"
        }
    }
}

/// Where JPEG files are decoded.
public enum DecodePlace: String, Sendable, CaseIterable {
    /// With nvJPEG on the GPU lane where the library loads, else on the CPU.
    case auto
    case cpu
    case cuda
}

/// What a GPU brings to detection, for the set-up to use without knowing CUDA: `PipelineCUDA`
/// provides it; the set-up runs on the host without one.
public protocol DetectionAccelerator: Sendable {
    /// Whether the GPU decodes this head (the others are decoded on the CPU only).
    func decodesOnDevice(_ decoder: HeadDecoder) -> Bool
    /// nil when JPEG files can be decoded on the GPU; else why not.
    func jpegDecodingUnavailability() -> String?
    /// A lane that keeps a batch on the session's GPU from pixels to kept boxes.
    func lane(session: any Session, inputName: String, spec: PreprocessSpec, postprocessor: Postprocessor, batchSize: Int,
              decodeJPEGs: Bool) throws -> any DetectionLane
    /// The GPU postprocess of host outputs on `device` (checked against the CPU when asked).
    func postprocessing(_ cpu: Postprocessor, device: Int, maxBatch: Int, checked: Bool) throws -> any BatchPostprocessing
    /// After a run: lines about a GPU postprocess's kernels and, when checked, its agreement with
    /// the CPU; `agrees` false when a checked run found a difference. nil for other postprocessing.
    func report(of postprocessing: any BatchPostprocessing, batch: Int) -> (lines: [String], agrees: Bool)?
}
