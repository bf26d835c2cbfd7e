import CUDA
import Dispatch
import FoundationEssentials
import Imaging
import Synchronization
import Tensors

/// `preprocess --device cuda`: the same spec on an NVIDIA GPU, with CUDA-event timings and a
/// check against the CPU pass.
public struct GPUPreprocessReport: Encodable, Sendable {
    public var device: String
    public var kernel: String = GPUPreprocessor.kernelName
    /// With --repeats only: timing costs launches and a device-copy measurement.
    public var timing: Timing?
    /// Elements that differ from the CPU pass (the output was poisoned first), and the largest
    /// difference in units in the last place.
    public var mismatches: Int?
    public var maxULP: Int?

    public struct Timing: Encodable, Sendable {
        /// Medians over the repeats, from CUDA events: the kernel alone, the pinned-host copy alone, both.
        public var kernelMs: Double
        public var copyMs: Double
        public var endToEndMs: Double
        public var repeats: Int
        /// Bytes the kernel must move (pixels read + batch written) per kernel time.
        public var kernelGBs: Double
        /// The device's own copy speed, measured now (device to device, read + write per second).
        public var deviceCopyGBs: Double
        public var bandwidthFraction: Double
    }
}

/// The GPU preprocessing run as a benchmark: timed with CUDA events, checked against the CPU pass.
public enum GPUPreprocessBenchmark {
    public static func run(_ images: [Image], spec: PreprocessSpec, batch: Int, device: Int, repeats: Int, check: Bool)
        throws -> (Tensor, [ImagePlacement], GPUPreprocessReport)
    {
        let gpu = try GPUPreprocessor(spec: spec, device: device)
        let placements = try gpu.stage(images, batchSize: batch)
        try spec.requireHostMemory(batch: batch)  // the batch comes back to the host
        let stream = gpu.stream
        // Poison the batch so an element the kernel skips cannot pass for a right one.
        try stream.fill(gpu.outputBuffer(batchSize: batch), byte: 0xA5)
        try gpu.launch()
        let tensor = try gpu.download()
        var report = GPUPreprocessReport(device: gpu.context.device.description)
        if repeats > 0 {
            let (copy, kernel, total) = try timedLaunches(gpu, repeats: repeats)
            let moved = Double(images.reduce(0) { $0 + $1.pixels.byteCount } + tensor.byteCount)
            let copyGBs = try deviceCopySpeed(gpu.context, stream: stream)
            let kernelGBs = kernel > 0 ? moved / kernel / 1e6 : 0
            report.timing = .init(kernelMs: kernel, copyMs: copy, endToEndMs: total, repeats: repeats, kernelGBs: kernelGBs,
                                  deviceCopyGBs: copyGBs, bandwidthFraction: copyGBs > 0 ? kernelGBs / copyGBs : 0)
        }
        if check { (report.mismatches, report.maxULP) = try differencesFromCPU(tensor, images, spec: spec, batch: batch) }
        return (tensor, placements, report)
    }

    /// Copy, kernel and copy + kernel milliseconds of `repeats` launches (after 3 warm-ups), from
    /// CUDA events on the preprocessor's stream; medians.
    static func timedLaunches(_ gpu: GPUPreprocessor, repeats: Int) throws -> (copy: Double, kernel: Double, total: Double) {
        let events = try (0..<3).map { _ in try CUDAEvent(gpu.context) }
        var kernel: [Double] = [], copy: [Double] = [], total: [Double] = []
        for run in 0..<(repeats + 3) {
            try events[0].record(on: gpu.stream)
            try gpu.upload()
            try events[1].record(on: gpu.stream)
            try gpu.runKernel()
            try events[2].record(on: gpu.stream)
            try gpu.stream.synchronize()
            if run >= 3 {  // warm-up runs first
                copy.append(try events[1].milliseconds(since: events[0]))
                kernel.append(try events[2].milliseconds(since: events[1]))
                total.append(try events[2].milliseconds(since: events[0]))
            }
        }
        return (Percentiles.median(copy), Percentiles.median(kernel), Percentiles.median(total))
    }

    /// Device-to-device copy of 256 MB, bytes read + written per second (median of 5).
    static func deviceCopySpeed(_ context: CUDAContext, stream: CUDAStream) throws -> Double {
        let bytes = 256 << 20
        let a = try DeviceBuffer(context, bytes: bytes), b = try DeviceBuffer(context, bytes: bytes)
        let start = try CUDAEvent(context), end = try CUDAEvent(context)
        var times: [Double] = []
        for _ in 0..<6 {
            try start.record(on: stream)
            try stream.copy(a, to: b, bytes: bytes)
            try end.record(on: stream)
            times.append(try end.milliseconds(since: start))
        }
        let ms = Percentiles.median(Array(times.dropFirst()))
        return Double(2 * bytes) / ms / 1e6
    }

    /// The GPU batch against the CPU pass over the same images: differing elements, largest ULP gap.
    static func differencesFromCPU(_ tensor: Tensor, _ images: [Image], spec: PreprocessSpec, batch: Int) throws -> (Int, Int) {
        let cpu = try Preprocessor(spec: spec)
        return compare(tensor, try cpu.batch(images, size: batch).0, elementSize: cpu.elementSize)
    }

    /// Differing elements, and the largest difference in ULPs (elements compared as ordered integers).
    static func compare(_ a: Tensor, _ b: Tensor, elementSize: Int) -> (Int, Int) {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                var mismatches = 0, worst = 0
                let n = min(x.count, y.count) / elementSize
                for i in 0..<n {
                    var u = 0, v = 0
                    for k in 0..<elementSize { u |= Int(x[i * elementSize + k]) << (8 * k); v |= Int(y[i * elementSize + k]) << (8 * k) }
                    if u != v {
                        mismatches += 1
                        worst = max(worst, abs(ordered(u, bits: elementSize * 8) - ordered(v, bits: elementSize * 8)))
                    }
                }
                return (mismatches, worst)
            }
        }
    }

    /// Sign-magnitude float bits as a monotonic integer, so neighbours differ by one.
    private static func ordered(_ bits: Int, bits width: Int) -> Int {
        let sign = 1 << (width - 1)
        return bits & sign != 0 ? -(bits & (sign - 1)) : bits
    }
}

/// `--device cuda:all`: the batch split over every GPU, each share preprocessed on its own device
/// at the same time (a thread, a stream, a context per device).
public struct MultiGPUReport: Encodable, Sendable {
    public var devices: [String]
    public var slotsPerDevice: [Int]
    /// Median copy + kernel time of each device's share, measured with its own events while all ran.
    public var endToEndMsPerDevice: [Double]
    /// Host wall time of one round in which every device ran its share, median.
    public var concurrentWallMs: Double
    /// The whole batch on device 0 alone, copy + kernel, median.
    public var singleDeviceEndToEndMs: Double
    public var mismatches: Int?
    public var maxULP: Int?
}

extension GPUPreprocessBenchmark {
    public static func runSplit(_ images: [Image], spec: PreprocessSpec, batch: Int, devices: [Int], repeats: Int, check: Bool)
        throws -> (Tensor, [ImagePlacement], MultiGPUReport)
    {
        let share = (batch + devices.count - 1) / devices.count
        let gpus = try devices.map { try GPUPreprocessor(spec: spec, device: $0) }
        var placements: [ImagePlacement] = [], slots: [Int] = []
        for (i, gpu) in gpus.enumerated() {
            let first = min(images.count, i * share), end = min(images.count, (i + 1) * share)
            let size = max(0, min(share, batch - i * share))
            slots.append(size)
            if size > 0 { placements += try gpu.stage(Array(images[first..<end]), batchSize: size) }
        }
        try spec.requireHostMemory(batch: batch)
        // Poisoned first, so a slot no device writes shows in the check.
        for (gpu, size) in zip(gpus, slots) where size > 0 { try gpu.stream.fill(gpu.outputBuffer(batchSize: size), byte: 0xA5) }
        let events = try gpus.map { gpu in (try CUDAEvent(gpu.context), try CUDAEvent(gpu.context)) }
        let rounds = repeats + 3
        let shares = slots
        let times = Mutex([[Double]](repeating: [], count: gpus.count))
        let failure = Mutex<Error?>(nil)
        let clock = ContinuousClock()
        var wall: [Double] = []
        for round in 0..<rounds {
            let start = clock.now
            DispatchQueue.concurrentPerform(iterations: gpus.count) { i in
                guard shares[i] > 0 else { return }
                do {
                    let gpu = gpus[i], (begin, end) = events[i]
                    try begin.record(on: gpu.stream)
                    try gpu.launch()
                    try end.record(on: gpu.stream)
                    try gpu.stream.synchronize()
                    let ms = try end.milliseconds(since: begin)
                    if round >= 3 { times.withLock { $0[i].append(ms) } }
                } catch {
                    failure.withLock { $0 = $0 ?? error }
                }
            }
            if let error = failure.withLock({ $0 }) { throw error }
            if round >= 3 { wall.append((clock.now - start).milliseconds) }
        }
        // The same whole batch on the first device alone, for comparison.
        let alone = try GPUPreprocessor(spec: spec, device: devices[0])
        try alone.stage(images, batchSize: batch)
        let single = try timedLaunches(alone, repeats: repeats).total
        var tensor = try Tensor(dtype: spec.dtype.dtype, shape: gpus[0].cpu.batchShape(size: batch), zeroed: true)
        let slotBytes = tensor.byteCount / batch
        var at = 0
        for (gpu, size) in zip(gpus, slots) where size > 0 {
            let part = try gpu.download()
            part.withUnsafeBytes { src in tensor.withUnsafeMutableBytes { dst in
                dst.baseAddress!.advanced(by: at).copyMemory(from: src.baseAddress!, byteCount: size * slotBytes)
            } }
            at += size * slotBytes
        }
        var report = MultiGPUReport(devices: gpus.map(\.context.device.description), slotsPerDevice: slots,
                                    endToEndMsPerDevice: times.withLock { $0 }.map(Percentiles.median), concurrentWallMs: Percentiles.median(wall),
                                    singleDeviceEndToEndMs: single)
        if check { (report.mismatches, report.maxULP) = try differencesFromCPU(tensor, images, spec: spec, batch: batch) }
        return (tensor, placements, report)
    }
}
