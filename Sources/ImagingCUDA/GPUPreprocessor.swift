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
    private var staging: PinnedBuffer?
    private var stagingDevice: DeviceBuffer?
    /// The batch on the device, once staged: `batchSize` slots in the spec's layout and type.
    public private(set) var output: DeviceBuffer?
    private var staged: Staged?

    struct Staged {
        let layout: PreprocessStaging
        let count: Int, slots: Int
        let placements: [ImagePlacement]
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

    /// Writes the images, their records and tables into the pinned staging buffer (grown as needed).
    @discardableResult
    public func stage(_ images: [Image], batchSize: Int) throws -> [ImagePlacement] {
        guard batchSize >= images.count, batchSize > 0 else {
            throw CUDAError(.badInput, function: "stage", message: "\(images.count) images do not fit a batch of \(batchSize)")
        }
        let plans = try cpu.plans(for: images)
        let layout = PreprocessStaging(images: images, plans: plans, outputTableBytes: cpu.outputTable.count, padBytes: cpu.padElements.count)
        if staging == nil || stagingDevice == nil || staging!.byteCount < layout.byteCount {
            // Released first, so the pool can hand the old block's memory to the bigger one.
            (staging, stagingDevice) = (nil, nil)
            staging = try PinnedBuffer(context, bytes: layout.byteCount)
            stagingDevice = try allocator.buffer(bytes: layout.byteCount, stream: stream)
        }
        staging!.withUnsafeMutableBytes { layout.write(images: images, outputTable: cpu.outputTable, pad: cpu.padElements, into: $0) }
        let outBytes = batchSize * 3 * cpu.spec.height * cpu.spec.width * cpu.elementSize
        if output == nil || output!.byteCount != outBytes {
            output = nil
            output = try allocator.buffer(bytes: outBytes, stream: stream)
        }
        staged = Staged(layout: layout, count: images.count, slots: batchSize, placements: plans.map(\.placement))
        return staged!.placements
    }

    /// Copies the staged buffer to the device (asynchronously, from pinned memory).
    public func upload() throws(CUDAError) {
        guard let staged, let staging, let stagingDevice else { throw CUDAError(.badInput, function: "upload", message: "nothing staged") }
        try stream.copy(staging, bytes: staged.layout.byteCount, to: stagingDevice)
    }

    /// Runs the kernel on the uploaded buffer (asynchronously on `stream`).
    public func runKernel() throws(CUDAError) {
        guard let staged, let stagingDevice, let output else { throw CUDAError(.badInput, function: "runKernel", message: "nothing staged") }
        let spec = cpu.spec
        let (grid, block) = PreprocessKernel.geometry(slots: staged.slots, height: spec.height, width: spec.width)
        try function.launch(grid: grid, block: block, on: stream, [
            .buffer(stagingDevice), .int64(Int64(staged.layout.recordsAt)), .int64(Int64(staged.layout.tablesAt)),
            .int64(Int64(staged.layout.outputTableAt)), .int64(Int64(staged.layout.padAt)), .int32(Int32(staged.count)),
            .buffer(output), .int32(Int32(spec.height)), .int32(Int32(spec.width)),
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
        guard let staged, let output else { throw CUDAError(.badInput, function: "download", message: "nothing staged") }
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
