import CKernels
import Dispatch
import FoundationEssentials
import Tensors

/// The fused CPU preprocessing pass: each image is resampled, padded, normalized, cast and laid out
/// in one sweep over its batch slot, rows spread over the cores.
///
/// ```swift
/// let pre = try Preprocessor(spec: PreprocessSpec.preset(named: "yolo640")!)
/// var batch = try pre.makeBatch(size: 8)
/// let placements = try pre.run(images, into: &batch)   // slots images.count..<8 hold padding
/// ```
public struct Preprocessor: Sendable {
    public let spec: PreprocessSpec
    let tables: ChannelTables
    let isa: HPKernelISA
    let tapCache = TapCache()

    /// Which inner loops to run: the best the CPU has, or a lower level (tests compare them all;
    /// a level the CPU lacks falls back, never faults).
    public enum KernelLevel: Sendable, CaseIterable { case best, avx2, portable }

    public init(spec: PreprocessSpec, kernels: KernelLevel = .best) throws(ImagingError) {
        try spec.validate()
        self.spec = spec
        tables = ChannelTables(spec: spec)
        switch kernels {
        case .best: isa = hp_best_resample_isa()
        case .avx2: isa = HPKernelISAX86F16CAVX2
        case .portable: isa = HPKernelISAPortable
        }
    }

    /// The inner loops in use ("x86-64 avx512", "x86-64 avx2+f16c" or "portable").
    public var kernelName: String {
        let available = hp_best_resample_isa()
        return String(cString: hp_isa_name(isa.rawValue <= available.rawValue ? isa : available))
    }

    /// [N, 3, H, W] for NCHW, [N, H, W, 3] for NHWC.
    public func batchShape(size: Int) -> Shape {
        spec.layout == .nchw ? [size, 3, spec.height, spec.width] : [size, spec.height, spec.width, 3]
    }

    /// A batch tensor of `size` slots, every slot filled with padding (for filling slot by slot).
    public func makeBatch(size: Int) throws(ImagingError) -> Tensor {
        var batch = try allocateBatch(size: size)
        try pad(&batch, slots: 0..<size)
        return batch
    }

    /// A new batch of `size` slots holding `images`, the slots after them padding: every element
    /// written once (no padding pass first, as `makeBatch` then `run` would do).
    public func batch(_ images: [Image], size: Int) throws(ImagingError) -> (Tensor, [ImagePlacement]) {
        guard size >= images.count else { throw .badTensor("\(images.count) images do not fit a batch of \(size)") }
        var batch = try allocateBatch(size: size)
        let placements = try run(images, into: &batch)
        return (batch, placements)
    }

    private func allocateBatch(size: Int) throws(ImagingError) -> Tensor {
        guard size > 0 else { throw .badTensor("batch size must be at least 1, got \(size)") }
        do { return try Tensor(dtype: spec.dtype.dtype, shape: batchShape(size: size), zeroed: false) } catch {
            throw .badTensor("cannot allocate a batch of \(size): \(error)")
        }
    }

    /// Where an image of this size lands in a slot.
    public func placement(width: Int, height: Int, image: String = "image") throws(ImagingError) -> ImagePlacement {
        try ImagePlacement.make(width: width, height: height, spec: spec, image: image)
    }

    /// Writes `images` into slots `first ..< first + images.count` of `batch` and, when
    /// `padRemaining` is set, fills the slots after them with padding (a partial batch).
    /// Everything is checked before the first write, so a bad image leaves the batch untouched.
    /// - Returns: each image's placement, for mapping results back.
    @discardableResult
    public func run(_ images: [Image], into batch: inout Tensor, startingAt first: Int = 0, padRemaining: Bool = true) throws(ImagingError) -> [ImagePlacement] {
        let slots = try checkBatch(batch)
        guard first >= 0, first + images.count <= slots else {
            throw .badTensor("\(images.count) images from slot \(first) do not fit a batch of \(slots)")
        }
        var placements: [ImagePlacement] = []
        for (i, image) in images.enumerated() {
            placements.append(try placement(width: image.width, height: image.height, image: image.source ?? "image \(i)"))
        }
        let jobs = try images.indices.map { (i) throws(ImagingError) in try SlotJob(image: images[i], placement: placements[i], slot: first + i, preprocessor: self) }
        try execute(jobs, in: &batch)
        if padRemaining { try pad(&batch, slots: (first + images.count)..<slots) }
        return placements
    }

    /// Fills whole slots with the pad value.
    public func pad(_ batch: inout Tensor, slots: Range<Int>) throws(ImagingError) {
        let count = try checkBatch(batch)
        guard slots.lowerBound >= 0, slots.upperBound <= count else { throw .badTensor("slots \(slots) outside a batch of \(count)") }
        let geometry = SlotGeometry(spec: spec, elementSize: tables.elementSize)
        let pad = tables.pad
        batch.withUnsafeMutableBytes { raw in
            pad.withUnsafeBytes { values in
                for slot in slots {
                    let base = raw.baseAddress! + slot * geometry.slotElements * tables.elementSize
                    hp_fill_rect(base, geometry.rowStride, geometry.pixelStride, geometry.channelStride,
                                 Int32(spec.width), Int32(spec.height), 3, Int32(tables.elementSize), values.baseAddress!)
                }
            }
        }
    }

    /// The batch's slot count, after checking its shape and element type against the spec.
    func checkBatch(_ batch: Tensor) throws(ImagingError) -> Int {
        let shape = batch.shape
        let expected = batchShape(size: shape.rank == 4 ? shape[0] : 1)
        guard batch.dtype == spec.dtype.dtype, shape == expected else {
            throw .badTensor("the batch tensor is \(batch.dtype) \(shape); this spec writes \(spec.dtype.dtype) [N, \(expected.dimensions.dropFirst().map(String.init).joined(separator: ", "))]")
        }
        return shape[0]
    }

    /// Runs every slot's rows, split in bands over the cores (each band owns its scratch row).
    private func execute(_ jobs: [SlotJob], in batch: inout Tensor) throws(ImagingError) {
        guard !jobs.isEmpty else { return }
        let band = 64
        var tasks: [(job: Int, rows: Range<Int>)] = []
        for (j, _) in jobs.enumerated() {
            for start in stride(from: 0, to: spec.height, by: band) { tasks.append((j, start..<min(spec.height, start + band))) }
        }
        let isa = self.isa, work = tasks
        batch.withUnsafeMutableBytes { raw in
            let base = UncheckedSendable(raw.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: tasks.count) { t in
                let task = work[t]
                jobs[task.job].writeRows(task.rows, batchBase: base.value, isa: isa)
            }
        }
    }
}
