import CUDA
import FoundationEssentials
import Imaging
import Tensors

/// The fused preprocessing pass on an NVIDIA GPU: the CPU path's spec, tables and geometry, one
/// kernel over the whole batch. Images are staged in pinned memory with their tables, copied in
/// one asynchronous transfer, and the padded batch is written on the device.
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
    public let stream: CUDAStream
    let function: CUDAFunction
    private var staging: PinnedBuffer?
    private var stagingDevice: DeviceBuffer?
    public private(set) var output: DeviceBuffer?
    private var staged: Staged?

    struct Staged {
        let bytes: Int
        let count: Int, slots: Int
        let records: Int, tables: Int, outputTable: Int, pad: Int
        let placements: [ImagePlacement]
    }

    public init(spec: PreprocessSpec, device: Int = 0, compiler: ((CUDAContext) -> KernelCompiler)? = nil) throws {
        cpu = try Preprocessor(spec: spec)
        context = try CUDAContext(device: device)
        stream = try CUDAStream(context)
        let module = try (compiler?(context) ?? KernelCompiler(context: context)).module(source: PreprocessKernel.source, name: PreprocessKernel.name)
        function = try module.function(PreprocessKernel.name)
    }

    public var batchShape: (Int) -> Shape { cpu.batchShape(size:) }

    /// Writes the images, their records and tables into the pinned staging buffer (grown as needed).
    @discardableResult
    public func stage(_ images: [Image], batchSize: Int) throws -> [ImagePlacement] {
        guard batchSize >= images.count, batchSize > 0 else {
            throw CUDAError(.badInput, function: "stage", message: "\(images.count) images do not fit a batch of \(batchSize)")
        }
        let plans = try cpu.plans(for: images)
        var tables: [Int32] = [], records: [Int32] = []
        var pixelOffset = 0
        var pixelStarts: [Int] = []
        for (image, plan) in zip(images, plans) {
            pixelStarts.append(pixelOffset)
            pixelOffset += (image.pixels.byteCount + 63) & ~63
            let xAt = tables.count
            tables += plan.xIndex + plan.xWeight
            let yAt = tables.count
            tables += plan.yIndex + plan.yWeight
            let p = plan.placement
            records += [0, Int32(image.width), Int32(image.height), Int32(p.padLeft), Int32(p.padTop),
                        Int32(p.visibleWidth), Int32(p.visibleHeight), Int32(xAt), Int32(yAt),
                        Int32(plan.xTaps), Int32(plan.yTaps), plan.channelMap[0], plan.channelMap[1], plan.channelMap[2], 0]
        }
        if records.isEmpty { records = Array(repeating: 0, count: PreprocessKernel.recordFields) }
        // Layout: records | tables | output table | pad | pixels, each 64-byte aligned.
        func align(_ v: Int) -> Int { (v + 63) & ~63 }
        let recordsAt = 0, tablesAt = align(records.count * 4)
        let outputTableAt = align(tablesAt + tables.count * 4)
        let padAt = align(outputTableAt + cpu.outputTable.count)
        let pixelsAt = align(padAt + cpu.padElements.count)
        let total = pixelsAt + pixelOffset
        for i in images.indices {
            let at = UInt64(pixelsAt + pixelStarts[i])
            records[i * PreprocessKernel.recordFields] = Int32(bitPattern: UInt32(truncatingIfNeeded: at))
            records[i * PreprocessKernel.recordFields + 14] = Int32(at >> 32)
        }
        if staging == nil || staging!.byteCount < total {
            staging = try PinnedBuffer(context, bytes: total)
            stagingDevice = try DeviceBuffer(context, bytes: total)
        }
        staging!.withUnsafeMutableBytes { buffer in
            func put(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
                UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
            }
            records.withUnsafeBytes { put($0, at: recordsAt) }
            tables.withUnsafeBytes { put($0, at: tablesAt) }
            cpu.outputTable.withUnsafeBytes { put($0, at: outputTableAt) }
            cpu.padElements.withUnsafeBytes { put($0, at: padAt) }
            for (i, image) in images.enumerated() { image.pixels.withUnsafeBytes { put($0, at: pixelsAt + pixelStarts[i]) } }
        }
        let outBytes = batchSize * 3 * cpu.spec.height * cpu.spec.width * cpu.elementSize
        if output == nil || output!.byteCount != outBytes { output = try DeviceBuffer(context, bytes: outBytes) }
        staged = Staged(bytes: total, count: images.count, slots: batchSize, records: recordsAt, tables: tablesAt,
                        outputTable: outputTableAt, pad: padAt, placements: plans.map(\.placement))
        return staged!.placements
    }

    /// Copies the staged buffer to the device (asynchronously, from pinned memory).
    public func upload() throws(CUDAError) {
        guard let staged, let staging, let stagingDevice else { throw CUDAError(.badInput, function: "upload", message: "nothing staged") }
        try stream.copy(staging, bytes: staged.bytes, to: stagingDevice)
    }

    /// Runs the kernel on the uploaded buffer (asynchronously on `stream`).
    public func runKernel() throws(CUDAError) {
        guard let staged, let stagingDevice, let output else { throw CUDAError(.badInput, function: "runKernel", message: "nothing staged") }
        let spec = cpu.spec
        let (grid, block) = PreprocessKernel.geometry(slots: staged.slots, height: spec.height, width: spec.width)
        try function.launch(grid: grid, block: block, on: stream, [
            .buffer(stagingDevice), .int64(Int64(staged.records)), .int64(Int64(staged.tables)),
            .int64(Int64(staged.outputTable)), .int64(Int64(staged.pad)), .int32(Int32(staged.count)),
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
