import CUDA
import Detection
import FoundationEssentials
import Imaging
import Synchronization
import Tensors

/// The CPU `Postprocessor`'s work for a whole batch on an NVIDIA GPU: decode, threshold, sort,
/// class-aware NMS and the mapping back to each frame, four launches for the batch. The raw head
/// outputs never leave the device; only the kept boxes come back.
///
/// ```swift
/// let gpu = try GPUPostprocessor(postprocessor, maxBatch: 64, allocator: allocator)
/// let result = try gpu.run(head: deviceOutput, scores: nil, batch: 64, placements: placements)
/// ```
public final class GPUPostprocessor: BatchPostprocessing, @unchecked Sendable {
    /// The decoder, thresholds and mapping (the CPU path the results must equal).
    public let cpu: Postprocessor
    public let maxBatch: Int
    public let context: CUDAContext
    public let stream: CUDAStream
    let allocator: DeviceAllocator
    let decode, sort, iouMask, select: CUDAFunction
    let counts, candidates, keys, sorted, mask, placements, keptCounts, kept: DeviceBuffer
    private var headBuffer: DeviceBuffer?
    private var scoresBuffer: DeviceBuffer?
    private let started, finished: CUDAEvent
    /// Kernel time of every batch so far, in milliseconds (from CUDA events).
    public let kernelTimes = Mutex<[Double]>([])
    /// Frames that had more candidates above the threshold than the GPU holds (`capacity`).
    public let overflowingFrames = Atomic<Int>(0)

    public static let capacity = PostprocessKernels.capacity

    /// Whether the GPU path decodes `decoder`'s layout (YOLOX, YOLOv5/v7, YOLOv8/11, boxes with
    /// scores); the others (GFL, boxes already through NMS) stay on the CPU.
    public static func supports(_ decoder: HeadDecoder) -> Bool {
        switch decoder.layout {
        case .yolox, .yolov5, .yolov8: true
        case .boxes: decoder.needsNMS
        case .gfl: false
        }
    }

    public init(_ cpu: Postprocessor, maxBatch: Int, allocator: DeviceAllocator, compiler: ((CUDAContext) -> KernelCompiler)? = nil) throws {
        guard Self.supports(cpu.decoder) else {
            throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the \(cpu.decoder.layout.rawValue) head is decoded on the CPU only")
        }
        guard maxBatch >= 1 else { throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the batch must be at least 1") }
        self.cpu = cpu
        self.maxBatch = maxBatch
        self.allocator = allocator
        context = allocator.context
        stream = try CUDAStream(context)
        let module = try (compiler?(context) ?? KernelCompiler(context: context)).module(source: PostprocessKernels.source, name: PostprocessKernels.name)
        decode = try module.function("hp_det_decode")
        sort = try module.function("hp_det_sort")
        iouMask = try module.function("hp_det_iou_mask")
        select = try module.function("hp_det_select")
        let cap = Self.capacity
        counts = try allocator.buffer(bytes: maxBatch * 4, stream: stream)
        candidates = try allocator.buffer(bytes: maxBatch * cap * 6 * 4, stream: stream)
        keys = try allocator.buffer(bytes: maxBatch * cap * 8, stream: stream)
        sorted = try allocator.buffer(bytes: maxBatch * cap * 6 * 4, stream: stream)
        mask = try allocator.buffer(bytes: maxBatch * cap * (cap / 64) * 8, stream: stream)
        placements = try allocator.buffer(bytes: maxBatch * PostprocessParameters.placementBytes, stream: stream)
        keptCounts = try allocator.buffer(bytes: maxBatch * 4, stream: stream)
        kept = try allocator.buffer(bytes: maxBatch * cpu.nms.maxDetections * 6 * 4, stream: stream)
        started = try CUDAEvent(context)
        finished = try CUDAEvent(context)
    }

    public var placeName: String { "cuda" }

    /// Host outputs (from a CPU backend): uploaded, then `run(head:scores:batch:placements:)`.
    public func detections(_ outputs: [String: Tensor], placements: [ImagePlacement]) throws -> [[Detection]] {
        let names = cpu.decoder.outputNames
        var uploaded: [DeviceBuffer] = []
        var batch = 0
        for (i, name) in names.enumerated() {
            guard let tensor = outputs[name] else { throw DetectionError.headMismatch(decoder: cpu.decoder.layout.rawValue, reason: "the output \(name) is missing") }
            let values = tensor.dtype == .float32 ? tensor : try tensor.converted(to: .float32)
            batch = values.shape[0]
            var buffer = i == 0 ? headBuffer : scoresBuffer
            if buffer == nil || buffer!.byteCount < values.byteCount {
                buffer = try allocator.buffer(bytes: values.byteCount, stream: stream)
                if i == 0 { headBuffer = buffer } else { scoresBuffer = buffer }
            }
            try values.withUnsafeBytes { (raw) throws(CUDAError) in try stream.copy(raw, to: buffer!) }
            uploaded.append(buffer!)
        }
        let shapes = names.map { outputs[$0]!.shape.dimensions }
        return try run(head: uploaded[0], scores: uploaded.count > 1 ? uploaded[1] : nil, shapes: shapes, batch: batch, placements: placements)
    }

    /// Postprocesses outputs already on the device (`shapes`: each output's shape, batch first).
    public func run(head: DeviceBuffer, scores: DeviceBuffer?, shapes: [[Int]], batch: Int, placements images: [ImagePlacement]) throws -> [[Detection]] {
        guard batch <= maxBatch, images.count <= batch else {
            throw CUDAError(.badInput, function: "GPUPostprocessor.run", message: "a batch of \(batch) (\(images.count) frames) does not fit the \(maxBatch) it was made for")
        }
        let parameters = try PostprocessParameters(decoder: cpu.decoder, shapes: shapes, threshold: cpu.scoreThreshold)
        let placementBytes = PostprocessParameters.placements(images, mapping: cpu.mapping)
        let cap = Self.capacity, maxDetections = cpu.nms.maxDetections
        try started.record(on: stream)
        try stream.fill(counts, byte: 0)
        try placementBytes.withUnsafeBytes { raw in if raw.count > 0 { try stream.copy(raw, to: placements) } }
        try decode.launch(grid: ((parameters.cells + 255) / 256, batch, 1), block: (256, 1, 1), on: stream, [
            .buffer(head), .buffer(scores ?? head), .structure(parameters.bytes), .buffer(counts), .buffer(candidates), .buffer(keys),
        ])
        try sort.launch(grid: (batch, 1, 1), block: (PostprocessKernels.sortThreads, 1, 1), on: stream, [
            .buffer(counts), .buffer(keys), .buffer(candidates), .buffer(sorted),
        ])
        try iouMask.launch(grid: (cap / 64, cap / 64, batch), block: (64, 1, 1), on: stream, [
            .buffer(counts), .buffer(sorted), .float(cpu.nms.iouThreshold), .int32(cpu.nms.classAgnostic ? 1 : 0), .buffer(mask),
        ])
        try select.launch(grid: (images.count, 1, 1), block: (32, 1, 1), on: stream, [
            .buffer(counts), .buffer(sorted), .buffer(mask), .buffer(placements), .int32(Int32(images.count)), .int32(Int32(maxDetections)),
            .buffer(keptCounts), .buffer(kept),
        ])
        try finished.record(on: stream)
        var candidateCounts = [UInt32](repeating: 0, count: images.count)
        var keptCount = [UInt32](repeating: 0, count: images.count)
        var boxes = [Float](repeating: 0, count: images.count * maxDetections * 6)
        try candidateCounts.withUnsafeMutableBytes { raw in try stream.copy(counts, to: raw) }
        try keptCount.withUnsafeMutableBytes { raw in try stream.copy(keptCounts, to: raw) }
        try boxes.withUnsafeMutableBytes { raw in try stream.copy(kept, to: raw) }
        try stream.synchronize()
        let milliseconds = try finished.milliseconds(since: started)
        kernelTimes.withLock { $0.append(milliseconds) }
        let overflow = candidateCounts.filter { Int($0) > cap }.count
        if overflow > 0 { overflowingFrames.add(overflow, ordering: .relaxed) }
        return (0..<images.count).map { image in
            (0..<Int(keptCount[image])).map { k in
                let o = (image * maxDetections + k) * 6
                return Detection(box: Box(x1: boxes[o], y1: boxes[o + 1], x2: boxes[o + 2], y2: boxes[o + 3]), classIndex: Int(boxes[o + 5]), score: boxes[o + 4])
            }
        }
    }
}
