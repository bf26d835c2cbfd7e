import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Imaging
import ImagingCUDA
import Tensors

/// `halfpipe preprocess IMAGES… -o batch.npy`: decode and preprocess images into one batch tensor.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Decode images and preprocess them into one batch tensor (.npy).",
        discussion: """
            One fused pass per image: resize, pad, normalize, cast and layout. The geometry of every image (scale, padding, crop) is printed, or written with --placements, so boxes map back to the original pictures exactly.

            Presets: \(PreprocessSpec.presets.map(\.name).joined(separator: ", ")) (--list-presets describes them). Flags after a preset or --spec change only what they name.

            Examples:
              halfpipe preprocess photos/ --preset yolo640 --dtype fp16 -o batch.npy
              halfpipe preprocess a.jpg --size 384x640 --rounding truncate -o b.npy
              halfpipe preprocess crops/ --preset imagenet224 --batch 32 -o b.npy
              halfpipe preprocess --preset paddleocr-cls --print-spec > cls.json
            """
    )

    @Argument(help: ArgumentHelp("JPEG/PNG files, or folders of them.", valueName: "image"))
    var images: [String] = []

    @Option(help: ArgumentHelp("Start from a named preset.", valueName: "name"))
    var preset: String?
    @Option(help: ArgumentHelp("Start from a JSON spec (as --print-spec writes).", valueName: "spec.json"))
    var spec: String?
    @Option(help: ArgumentHelp("Target size: N or HEIGHTxWIDTH.", valueName: "size"))
    var size: String?
    @Option(help: ArgumentHelp("letterbox, stretch, crop (shorter side, then centre) or none.", valueName: "mode"))
    var resize: PreprocessSpec.ResizeMode?
    @Option(help: ArgumentHelp("round (Ultralytics) or truncate (OpenCV) the resized size.", valueName: "mode"))
    var rounding: PreprocessSpec.Rounding?
    @Option(help: ArgumentHelp("center or top-left.", valueName: "placement"))
    var pad: PreprocessSpec.PadPlacement?
    @Option(help: ArgumentHelp("The padding's pixel level, 0-255 (YOLO: 114).", valueName: "level"))
    var padValue: Double?
    @Option(help: ArgumentHelp("nearest, bilinear or area.", valueName: "mode"))
    var interpolation: PreprocessSpec.Interpolation?
    @Option(help: ArgumentHelp("Crop mode: the shorter side before the centre crop.", valueName: "pixels"))
    var resizeShorter: Int?
    @Flag(help: "Letterbox: never enlarge images smaller than the target.")
    var noUpscale = false
    @Option(help: ArgumentHelp("Channel order the model expects: rgb or bgr.", valueName: "order"))
    var order: ChannelOrder?
    @Option(help: ArgumentHelp("Multiply levels by this (e.g. 1/255).", valueName: "x"))
    var scale: String?
    @Option(help: ArgumentHelp("Per-channel mean, after scaling (e.g. 0.485,0.456,0.406).", valueName: "m"))
    var mean: String?
    @Option(help: ArgumentHelp("Per-channel std (e.g. 0.229,0.224,0.225).", valueName: "s"))
    var std: String?
    @Option(help: ArgumentHelp("nchw or nhwc.", valueName: "layout"))
    var layout: PreprocessSpec.Layout?
    @Option(help: ArgumentHelp("The element type (fp32, fp16, bf16, u8 and i8 also name them).", valueName: "type"))
    var dtype: PreprocessSpec.OutputType?
    @Option(help: ArgumentHelp("int8 output: quantization scale.", valueName: "x"))
    var int8Scale: String?
    @Option(help: ArgumentHelp("int8 output: zero point.", valueName: "z"))
    var int8ZeroPoint: Int?

    @Option(help: ArgumentHelp("Batch size (at least the image count; the rest is padding).", valueName: "n"))
    var batch: Int?
    @Option(help: ArgumentHelp("Refuse images with more pixels.", valueName: "n"))
    var maxPixels: Int = ImageDecoder.defaultMaxPixels
    @Flag(help: "Ignore JPEG EXIF orientation.")
    var noExif = false

    @OptionGroup var device: DeviceOptions
    @Option(help: ArgumentHelp("GPU: time this many runs with CUDA events and report medians.", valueName: "n"))
    var repeats: Int = 0
    @Flag(help: "GPU: compare the result with the CPU pass, element by element.")
    var check = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the batch.", valueName: "batch.npy"))
    var output: String?
    @Option(help: ArgumentHelp("Write each image's placement (JSON).", valueName: "placements.json"))
    var placements: String?
    @Flag(help: "Print the resolved spec as JSON and stop.")
    var printSpec = false
    @Flag(help: "List the presets and stop.")
    var listPresets = false
    @Flag(help: "Machine-readable report on standard output.")
    var json = false

    func run() throws {
        if listPresets {
            for p in PreprocessSpec.presets { print("\(p.name.padding(to: 14)) \(p.summary)") }
            return
        }
        let spec = try resolvedSpec()
        if printSpec {
            print(spec.encodeJSON())
            return
        }
        guard !images.isEmpty else { throw CLIError("no images given: name JPEG/PNG files or folders") }
        guard let output else { throw CLIError("no output: give -o batch.npy") }
        let files = try ImageFiles.expand(images)
        let size = batch ?? files.count
        guard size >= files.count else { throw CLIError("--batch \(size) is smaller than the \(files.count) images given") }

        let clock = ContinuousClock()
        let start = clock.now
        let decoded = try ImageDecoder(order: .rgb, applyEXIFOrientation: !noExif, maxPixels: maxPixels).decode(files: files)
        let decodedAt = clock.now
        var tensor: Tensor
        let placed: [ImagePlacement]
        var gpuReport: GPUPreprocessReport?
        var multiReport: MultiGPUReport?
        let gpus = try cudaDevices()
        if let gpus, gpus.count > 1 {
            (tensor, placed, multiReport) = try GPUPreprocessBenchmark.runSplit(decoded, spec: spec, batch: size, devices: gpus, repeats: repeats, check: check)
        } else if let gpu = gpus?.first {
            (tensor, placed, gpuReport) = try GPUPreprocessBenchmark.run(decoded, spec: spec, batch: size, device: gpu, repeats: repeats, check: check)
        } else {
            try spec.requireHostMemory(batch: size)
            (tensor, placed) = try Preprocessor(spec: spec).batch(decoded, size: size)
        }
        let doneAt = clock.now
        try NPY.write(tensor, to: output)
        let report = PreprocessReport(output: output, dtype: spec.dtype.rawValue, shape: tensor.shape.dimensions,
                                      images: zip(files, placed).map { .init(file: $0, placement: $1) },
                                      decodeMilliseconds: (decodedAt - start).milliseconds,
                                      preprocessMilliseconds: (doneAt - decodedAt).milliseconds, spec: spec, gpu: gpuReport, gpus: multiReport)
        if let placements { try FileBytes.writeAtomically(try ReportJSON.data(report.images, pretty: false), to: placements) }
        if json {
            print(try ReportJSON.line(report))
        } else {
            print("wrote \(output): \(spec.dtype.rawValue) [\(tensor.shape.dimensions.map(String.init).joined(separator: ", "))], \(files.count) images"
                  + (size > files.count ? " (slots \(files.count)..<\(size) padded)" : ""))
            for item in report.images {
                let p = item.placement
                print("  \(item.file): \(p.originalWidth)x\(p.originalHeight) -> \(p.resizedWidth)x\(p.resizedHeight), pad left \(p.padLeft) top \(p.padTop)"
                      + (p.cropLeft + p.cropTop > 0 ? ", crop left \(p.cropLeft) top \(p.cropTop)" : ""))
            }
            print("decode \(NumberText.fixed(report.decodeMilliseconds, 2)) ms, preprocess \(NumberText.fixed(report.preprocessMilliseconds, 2)) ms")
            if let m = multiReport {
                print("GPUs \(m.devices.joined(separator: "; ")): shares \(m.slotsPerDevice), copy + kernel \(m.endToEndMsPerDevice.map { NumberText.fixed($0, 4) }) ms "
                      + "at the same time (wall \(NumberText.fixed(m.concurrentWallMs, 4)) ms); whole batch on one device \(NumberText.fixed(m.singleDeviceEndToEndMs, 4)) ms"
                      + (m.mismatches.map { ", \($0) elements differ from the CPU" } ?? ""))
            }
            if let g = gpuReport {
                let timing = g.timing.map { t in
                    ": kernel \(NumberText.fixed(t.kernelMs, 4)) ms, copy \(NumberText.fixed(t.copyMs, 4)) ms, end to end \(NumberText.fixed(t.endToEndMs, 4)) ms "
                        + "(\(t.repeats) runs); \(NumberText.fixed(t.kernelGBs, 0)) GB/s of \(NumberText.fixed(t.deviceCopyGBs, 0)) GB/s copy speed"
                } ?? ""
                print("GPU \(g.device)\(timing)" + (g.mismatches.map { "; \($0) elements differ from the CPU (max \(g.maxULP ?? 0) ULP)" } ?? ""))
            }
        }
    }

    /// Preset or JSON spec first, then each flag given.
    func resolvedSpec() throws -> PreprocessSpec {
        var s: PreprocessSpec
        if let preset {
            guard let named = PreprocessSpec.preset(named: preset) else {
                throw CLIError("--preset \(preset): unknown; use one of \(PreprocessSpec.presets.map(\.name).joined(separator: ", "))")
            }
            guard spec == nil else { throw CLIError("give --preset or --spec, not both") }
            s = named
        } else if let spec {
            s = try PreprocessSpec.decodeJSON(try FileBytes.read(spec), source: spec)
        } else {
            guard let size else { throw CLIError("no target size: give --preset, --spec or --size") }
            let (h, w) = try PreprocessSpec.parseSize(size)
            s = PreprocessSpec(height: h, width: w)
        }
        if let size { (s.height, s.width) = try PreprocessSpec.parseSize(size) }
        if let resize { s.resize = resize }
        if let rounding { s.rounding = rounding }
        if let pad { s.pad = pad }
        if let padValue { s.padValue = padValue }
        if let interpolation { s.interpolation = interpolation }
        if let resizeShorter { s.resizeShorter = resizeShorter }
        if noUpscale { s.allowUpscale = false }
        if let order { s.order = order }
        if let scale { s.scale = try PreprocessSpec.parseNumber(scale, name: "--scale") }
        if let mean { s.mean = try PreprocessSpec.parseChannels(mean, name: "--mean") }
        if let std { s.std = try PreprocessSpec.parseChannels(std, name: "--std") }
        if let layout { s.layout = layout }
        if let dtype { s.dtype = dtype }
        if let int8Scale { s.int8Scale = try PreprocessSpec.parseNumber(int8Scale, name: "--int8-scale") }
        if let int8ZeroPoint { s.int8ZeroPoint = int8ZeroPoint }
        try s.validate()
        return s
    }

    /// The GPUs to use (their CUDA ordinals), or nil for the CPU.
    func cudaDevices() throws -> [Int]? {
        let gpus = try device.resolve().compactMap { if case .cuda(let n) = $0 { n } else { nil } }
        return gpus.isEmpty ? nil : gpus
    }
}

struct PreprocessReport: Encodable {
    struct Item: Encodable {
        let file: String
        let placement: ImagePlacement
    }
    let output: String
    let dtype: String
    let shape: [Int]
    let images: [Item]
    let decodeMilliseconds: Double
    let preprocessMilliseconds: Double
    let spec: PreprocessSpec
    let gpu: GPUPreprocessReport?
    let gpus: MultiGPUReport?
}
