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
    let decode, sort, iouMask, select, widen: CUDAFunction
    let counts, candidates, keys, sorted, mask, placements, keptCounts, kept: DeviceBuffer
    private var headBuffer: DeviceBuffer?
    private var scoresBuffer: DeviceBuffer?
    /// Float copies of float16 heads (the decode reads float).
    private var wide: [DeviceBuffer?] = [nil, nil]
    private var slots: [Slot] = []
    /// Kernel time of every batch so far, in milliseconds (from CUDA events).
    public let kernelTimes = Mutex<[Double]>([])
    /// Frames that had more candidates above the threshold than the GPU holds (`capacity`).
    public let overflowingFrames = Atomic<Int>(0)

    public static let capacity = PostprocessKernels.capacity

    /// One batch in flight: its placements and results in pinned memory, its events.
    final class Slot {
        let placements: PinnedBuffer
        /// counts [maxBatch] | kept counts [maxBatch] | kept boxes [maxBatch, maxDetections, 6]
        let results: PinnedBuffer
        let started, decoded, finished: CUDAEvent
        init(context: CUDAContext, maxBatch: Int, maxDetections: Int) throws(CUDAError) {
            placements = try PinnedBuffer(context, bytes: maxBatch * PostprocessParameters.placementBytes)
            results = try PinnedBuffer(context, bytes: maxBatch * 8 + maxBatch * maxDetections * 6 * 4)
            (started, decoded, finished) = (try CUDAEvent(context), try CUDAEvent(context), try CUDAEvent(context))
        }
    }

    /// A batch queued by `enqueue`: `collect` waits for it and reads its boxes.
    public struct Pending: @unchecked Sendable {
        let slot: Int
        let images: Int
        /// Recorded after the decode kernel: the head's memory may be written again once it has passed.
        public let decoded: CUDAEvent
        /// Recorded when the kept boxes are in host memory.
        public let finished: CUDAEvent
        /// Recorded before the first kernel.
        public let started: CUDAEvent
    }

    /// Whether the GPU path decodes `decoder`'s layout (YOLOX, YOLOv5/v7, YOLOv8/11, boxes with
    /// scores); the others (GFL, boxes already through NMS) stay on the CPU.
    public static func supports(_ decoder: HeadDecoder) -> Bool {
        switch decoder.layout {
        case .yolox, .yolov5, .yolov8: true
        case .boxes: decoder.needsNMS
        case .gfl: false
        }
    }

    /// - Parameter slots: batches that may be in flight at once (each has its own pinned results).
    public init(_ cpu: Postprocessor, maxBatch: Int, allocator: DeviceAllocator, slots: Int = 1, compiler: ((CUDAContext) -> KernelCompiler)? = nil) throws {
        guard Self.supports(cpu.decoder) else {
            throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the \(cpu.decoder.layout.rawValue) head is decoded on the CPU only")
        }
        guard maxBatch >= 1, slots >= 1 else { throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the batch and the slots must be at least 1") }
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
        widen = try module.function("hp_det_widen")
        let cap = Self.capacity
        counts = try allocator.buffer(bytes: maxBatch * 4, stream: stream)
        candidates = try allocator.buffer(bytes: maxBatch * cap * 6 * 4, stream: stream)
        keys = try allocator.buffer(bytes: maxBatch * cap * 8, stream: stream)
        sorted = try allocator.buffer(bytes: maxBatch * cap * 6 * 4, stream: stream)
        mask = try allocator.buffer(bytes: maxBatch * cap * (cap / 64) * 8, stream: stream)
        placements = try allocator.buffer(bytes: maxBatch * PostprocessParameters.placementBytes, stream: stream)
        keptCounts = try allocator.buffer(bytes: maxBatch * 4, stream: stream)
        kept = try allocator.buffer(bytes: maxBatch * cpu.nms.maxDetections * 6 * 4, stream: stream)
        self.slots = try (0..<slots).map { _ in try Slot(context: context, maxBatch: maxBatch, maxDetections: cpu.nms.maxDetections) }
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

    /// Postprocesses float outputs already on the device (`shapes`: each output's shape, batch first).
    public func run(head: DeviceBuffer, scores: DeviceBuffer?, shapes: [[Int]], batch: Int, placements images: [ImagePlacement]) throws -> [[Detection]] {
        let pending = try enqueue(head: (DeviceRegion(head), .float32), scores: scores.map { (DeviceRegion($0), .float32) }, shapes: shapes, batch: batch,
                                  placements: images, slot: 0)
        return try collect(pending)
    }

    /// Queues one batch's postprocessing on `stream`, after `ready` (an event of the stream that
    /// writes the head, e.g. the engine's), and returns at once. The head may be float or float16,
    /// in any device region; it is read only until `Pending.decoded`. The slot must not be in
    /// flight (its last batch collected).
    public func enqueue(head: (DeviceRegion, DType), scores: (DeviceRegion, DType)?, shapes: [[Int]], batch: Int, placements images: [ImagePlacement],
                        slot index: Int, after ready: CUDAEvent? = nil) throws -> Pending {
        guard batch <= maxBatch, images.count <= batch else {
            throw CUDAError(.badInput, function: "GPUPostprocessor.enqueue", message: "a batch of \(batch) (\(images.count) frames) does not fit the \(maxBatch) it was made for")
        }
        guard index >= 0, index < slots.count else {
            throw CUDAError(.badInput, function: "GPUPostprocessor.enqueue", message: "slot \(index) of \(slots.count)")
        }
        let slot = slots[index]
        let parameters = try PostprocessParameters(decoder: cpu.decoder, shapes: shapes, threshold: cpu.scoreThreshold)
        let placementBytes = PostprocessParameters.placements(images, mapping: cpu.mapping)
        let cap = Self.capacity, maxDetections = cpu.nms.maxDetections
        if let ready { try stream.wait(for: ready) }
        try slot.started.record(on: stream)
        let headArgument = try floatArgument(head, shape: shapes[0], index: 0)
        let scoresArgument = try scores.map { try floatArgument($0, shape: shapes[1], index: 1) } ?? headArgument
        try stream.fill(counts, byte: 0)
        slot.placements.withUnsafeMutableBytes { raw in placementBytes.withUnsafeBytes { raw.copyMemory(from: $0) } }
        if !placementBytes.isEmpty { try stream.copy(slot.placements, bytes: placementBytes.count, to: placements) }
        try decode.launch(grid: ((parameters.cells + 255) / 256, batch, 1), block: (256, 1, 1), on: stream, [
            headArgument, scoresArgument, .structure(parameters.bytes), .buffer(counts), .buffer(candidates), .buffer(keys),
        ])
        try slot.decoded.record(on: stream)
        try sort.launch(grid: (batch, 1, 1), block: (PostprocessKernels.sortThreads, 1, 1), on: stream, [
            .buffer(counts), .buffer(keys), .buffer(candidates), .buffer(sorted),
        ])
        try iouMask.launch(grid: (cap / 64, cap / 64, batch), block: (64, 1, 1), on: stream, [
            .buffer(counts), .buffer(sorted), .float(cpu.nms.iouThreshold), .int32(cpu.nms.classAgnostic ? 1 : 0), .buffer(mask),
        ])
        try select.launch(grid: (max(images.count, 1), 1, 1), block: (32, 1, 1), on: stream, [
            .buffer(counts), .buffer(sorted), .buffer(mask), .buffer(placements), .int32(Int32(images.count)), .int32(Int32(maxDetections)),
            .buffer(keptCounts), .buffer(kept),
        ])
        let n = images.count
        if n > 0 {
            try slot.results.withUnsafeMutableBytes { (raw) throws(CUDAError) in
                let base = raw.baseAddress!
                try stream.copy(counts, to: UnsafeMutableRawBufferPointer(start: base, count: n * 4))
                try stream.copy(keptCounts, to: UnsafeMutableRawBufferPointer(start: base + maxBatch * 4, count: n * 4))
                try stream.copy(kept, to: UnsafeMutableRawBufferPointer(start: base + maxBatch * 8, count: n * maxDetections * 6 * 4))
            }
        }
        try slot.finished.record(on: stream)
        return Pending(slot: index, images: n, decoded: slot.decoded, finished: slot.finished, started: slot.started)
    }

    /// Waits for a queued batch and reads each image's kept boxes from pinned memory.
    public func collect(_ pending: Pending) throws -> [[Detection]] {
        let slot = slots[pending.slot]
        try pending.finished.synchronize()
        kernelTimes.withLock { $0.append((try? slot.finished.milliseconds(since: slot.started)) ?? 0) }
        let maxDetections = cpu.nms.maxDetections, cap = Self.capacity, maxBatch = maxBatch
        return slot.results.withUnsafeBytes { raw in
            let candidateCounts = raw.bindMemory(to: UInt32.self)
            let keptCount = UnsafeRawBufferPointer(rebasing: raw[(maxBatch * 4)...]).bindMemory(to: UInt32.self)
            let boxes = UnsafeRawBufferPointer(rebasing: raw[(maxBatch * 8)...]).bindMemory(to: Float.self)
            let overflow = (0..<pending.images).filter { Int(candidateCounts[$0]) > cap }.count
            if overflow > 0 { overflowingFrames.add(overflow, ordering: .relaxed) }
            return (0..<pending.images).map { image in
                (0..<min(Int(keptCount[image]), maxDetections)).map { k in
                    let o = (image * maxDetections + k) * 6
                    return Detection(box: Box(x1: boxes[o], y1: boxes[o + 1], x2: boxes[o + 2], y2: boxes[o + 3]), classIndex: Int(boxes[o + 5]), score: boxes[o + 4])
                }
            }
        }
    }

    /// The head as a float kernel argument: as it is, or widened from float16 into a buffer of ours.
    private func floatArgument(_ head: (DeviceRegion, DType), shape: [Int], index: Int) throws -> KernelArgument {
        let (region, dtype) = head
        let count = shape.reduce(1, *)
        switch dtype {
        case .float32:
            guard region.byteCount >= count * 4 else { throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the head region is smaller than \(shape)") }
            return region.argument
        case .float16:
            guard region.byteCount >= count * 2 else { throw CUDAError(.badInput, function: "GPUPostprocessor", message: "the head region is smaller than \(shape)") }
            if wide[index] == nil || wide[index]!.byteCount < count * 4 {
                wide[index] = nil
                wide[index] = try allocator.buffer(bytes: count * 4, stream: stream)
            }
            try widen.launch(grid: ((count + 255) / 256, 1, 1), block: (256, 1, 1), on: stream, [region.argument, .buffer(wide[index]!), .int64(Int64(count))])
            return .buffer(wide[index]!)
        default:
            throw CUDAError(.badInput, function: "GPUPostprocessor", message: "a \(dtype) head; the GPU decodes float and float16")
        }
    }
}
