import CUDA
import FoundationEssentials
import Imaging
import Tensors

/// The fused preprocessing pass on an NVIDIA GPU: the CPU path's spec, tables and geometry, one
/// kernel over the whole batch. Images are staged in pinned memory with their tables, copied in
/// one asynchronous transfer, and the padded batch is written on the device. Device buffers come
/// from a caching `DeviceAllocator`, so restaging a batch of another size reuses memory.
///
/// ```swift
/// let gpu = try GPUPreprocessor(spec: spec, device: 0)
/// try gpu.stage(images, batchSize: 8)     // host side: pixels and tables into pinned memory
/// try gpu.launch()                         // async copy + kernel on the stream
/// let batch = try gpu.download()           // or hand gpu.output to the engine
/// ```
public final class GPUPreprocessor: @unchecked Sendable {
    /// The kernel's name, as compiled and cached.
    public static let kernelName = PreprocessKernel.name

    public let cpu: Preprocessor
    public let context: CUDAContext
    public let allocator: DeviceAllocator
    public let stream: CUDAStream
    let function: CUDAFunction
    /// The batch on the device, once a kernel ran without a destination region: `batchSize` slots
    /// in the spec's layout and type.
    public private(set) var output: DeviceBuffer?
    /// Staging areas: a pipeline stages batch N+1 in one while batch N's copy is in flight from another.
    private var slots: [Slot] = []

    struct Staged {
        let layout: PreprocessStaging
        let count: Int, slots: Int
        let placements: [ImagePlacement]
        let pictures: [PictureInput]
    }

    final class Slot {
        var staging: PinnedBuffer?
        var device: DeviceBuffer?
        var staged: Staged?
    }

    /// A preprocessor on `allocator`'s context, taking its device buffers from it (share one
    /// allocator among the GPU stages of a device).
    public init(spec: PreprocessSpec, allocator: DeviceAllocator, compiler: ((CUDAContext) -> KernelCompiler)? = nil) throws {
        cpu = try Preprocessor(spec: spec)
        context = allocator.context
        self.allocator = allocator
        stream = try CUDAStream(context)
        let module = try (compiler?(context) ?? KernelCompiler(context: context)).module(source: PreprocessKernel.source, name: PreprocessKernel.name)
        function = try module.function(PreprocessKernel.name)
    }

    /// A preprocessor on GPU `device` with an allocator of its own.
    public convenience init(spec: PreprocessSpec, device: Int = 0, compiler: ((CUDAContext) -> KernelCompiler)? = nil) throws {
        try self.init(spec: spec, allocator: DeviceAllocator(context: CUDAContext(device: device)), compiler: compiler)
    }

    public var batchShape: (Int) -> Shape { cpu.batchShape(size:) }

    /// Bytes of a preprocessed batch of `slots` images.
    public func outputBytes(batchSize: Int) -> Int { batchSize * 3 * cpu.spec.height * cpu.spec.width * cpu.elementSize }

    /// `output`, sized for a batch of `batchSize` (made or remade as needed).
    public func outputBuffer(batchSize: Int) throws(CUDAError) -> DeviceBuffer {
        let bytes = outputBytes(batchSize: batchSize)
        if output == nil || output!.byteCount != bytes {
            output = nil
            output = try allocator.buffer(bytes: bytes, stream: stream)
        }
        return output!
    }

    /// Writes the images, their records and tables into staging area `slot`'s pinned buffer (grown
    /// as needed). The area must not be in flight (its last `upload` waited for).
    @discardableResult
    public func stage(_ images: [Image], batchSize: Int, slot index: Int = 0) throws -> [ImagePlacement] {
        try stage(pictures: images.map { .pixels($0) }, batchSize: batchSize, slot: index)
    }

    /// `stage` for pictures some of which are JPEGs to decode on the device (`decodeJPEGs`): their
    /// places in the staging area are left for the decoder.
    @discardableResult
    public func stage(pictures images: [PictureInput], batchSize: Int, slot index: Int = 0) throws -> [ImagePlacement] {
        guard batchSize >= images.count, batchSize > 0 else {
            throw CUDAError(.badInput, function: "stage", message: "\(images.count) images do not fit a batch of \(batchSize)")
        }
        guard index >= 0 else { throw CUDAError(.badInput, function: "stage", message: "staging area \(index)") }
        while slots.count <= index { slots.append(Slot()) }
        let slot = slots[index]
        let plans = try cpu.plans(for: images)
        let layout = PreprocessStaging(images: images, plans: plans, outputTableBytes: cpu.outputTable.count, padBytes: cpu.padElements.count)
        if slot.staging == nil || slot.device == nil || slot.staging!.byteCount < layout.byteCount {
            // Released first, so the pool can hand the old block's memory to the bigger one.
            (slot.staging, slot.device) = (nil, nil)
            slot.staging = try PinnedBuffer(context, bytes: layout.byteCount)
            slot.device = try allocator.buffer(bytes: layout.byteCount, stream: stream)
        }
        slot.staging!.withUnsafeMutableBytes { layout.write(images: images, outputTable: cpu.outputTable, pad: cpu.padElements, into: $0) }
        slot.staged = Staged(layout: layout, count: images.count, slots: batchSize, placements: plans.map(\.placement), pictures: images)
        return plans.map(\.placement)
    }

    /// Decodes staging area `slot`'s JPEGs into their places on the device with `decoder`, queued
    /// on `stream` after the area's upload (which leaves those places alone). Returns how many.
    @discardableResult
    public func decodeJPEGs(slot index: Int = 0, with decoder: JPEGDecoderGPU, on other: CUDAStream? = nil) throws(CUDAError) -> Int {
        let (_, staged, _, device) = try staged(index, "decodeJPEGs")
        var count = 0
        for (picture, offset) in zip(staged.pictures, staged.layout.pixelOffsets) {
            guard case .jpeg(let jpeg) = picture else { continue }
            try decoder.decode(jpeg.bytes, width: jpeg.width, height: jpeg.height, name: jpeg.source ?? "a JPEG", bgr: jpeg.order == .bgr,
                               into: device, offset: offset, on: other ?? stream)
            count += 1
        }
        return count
    }

    private func staged(_ index: Int, _ function: String) throws(CUDAError) -> (Slot, Staged, PinnedBuffer, DeviceBuffer) {
        guard index >= 0, index < slots.count, let staged = slots[index].staged, let pinned = slots[index].staging, let device = slots[index].device else {
            throw CUDAError(.badInput, function: function, message: "nothing staged in area \(index)")
        }
        return (slots[index], staged, pinned, device)
    }

    /// Copies staging area `slot` to the device (asynchronously, from pinned memory) on `stream`
    /// (the preprocessor's own by default).
    public func upload(slot index: Int = 0, on other: CUDAStream? = nil) throws(CUDAError) {
        let (_, staged, pinned, device) = try staged(index, "upload")
        let ranges = staged.layout.uploadRanges(staged.pictures)
        if ranges.count == 1 { return try (other ?? stream).copy(pinned, bytes: ranges[0].count, to: device) }
        try pinned.withUnsafeBytes { (raw) throws(CUDAError) in
            for range in ranges { try (other ?? stream).copy(UnsafeRawBufferPointer(rebasing: raw[range]), to: device, offset: range.lowerBound) }
        }
    }

    /// Runs the kernel on staging area `slot`'s uploaded bytes, writing the batch into `region`
    /// (another stage's input, e.g. the engine's) or else into `output`, on `stream`.
    public func runKernel(slot index: Int = 0, into region: DeviceRegion? = nil, on other: CUDAStream? = nil) throws(CUDAError) {
        let (_, staged, _, device) = try staged(index, "runKernel")
        let bytes = outputBytes(batchSize: staged.slots)
        let destination: KernelArgument
        if let region {
            guard region.byteCount >= bytes else {
                throw CUDAError(.badInput, function: "runKernel", message: "a batch of \(bytes) bytes does not fit a region of \(region.byteCount)")
            }
            destination = region.argument
        } else {
            destination = .buffer(try outputBuffer(batchSize: staged.slots))
        }
        let spec = cpu.spec
        let (grid, block) = PreprocessKernel.geometry(slots: staged.slots, height: spec.height, width: spec.width)
        try function.launch(grid: grid, block: block, on: other ?? stream, [
            .buffer(device), .int64(Int64(staged.layout.recordsAt)), .int64(Int64(staged.layout.tablesAt)),
            .int64(Int64(staged.layout.outputTableAt)), .int64(Int64(staged.layout.padAt)), .int32(Int32(staged.count)),
            destination, .int32(Int32(spec.height)), .int32(Int32(spec.width)),
            .int32(spec.layout == .nhwc ? 1 : 0), .int32(Int32(cpu.elementSize)),
        ])
    }

    /// Upload and kernel, queued on the stream.
    public func launch() throws(CUDAError) {
        try upload()
        try runKernel()
    }

    /// Waits for the stream and copies the batch back into a host tensor.
    public func download() throws -> Tensor {
        let (_, staged, _, _) = try staged(0, "download")
        guard let output else { throw CUDAError(.badInput, function: "download", message: "no kernel has run") }
        var tensor = try Tensor(dtype: cpu.spec.dtype.dtype, shape: cpu.batchShape(size: staged.slots), zeroed: false)
        try tensor.withUnsafeMutableBytes { (raw) throws(CUDAError) in try stream.copy(output, to: raw) }
        try stream.synchronize()
        return tensor
    }

    /// Preprocesses `images` into a host batch: stage, launch, download.
    public func run(_ images: [Image], batchSize: Int? = nil) throws -> (Tensor, [ImagePlacement]) {
        let placements = try stage(images, batchSize: batchSize ?? images.count)
        try launch()
        return (try download(), placements)
    }
}
