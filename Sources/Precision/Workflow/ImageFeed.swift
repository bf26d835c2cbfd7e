import FoundationEssentials
import Imaging
import Inference
import ONNX
import Tensors

/// How pictures become a model's input: a preset or a JSON spec, and which input takes them. The
/// element type, layout and (where the model fixes it) size come from the model; with neither
/// preset nor spec, pictures are letterboxed to the model's size (Ultralytics' defaults).
public struct ImageFeedRequest: Sendable {
    /// A preset name (`PreprocessSpec.presets`).
    public var preset: String?
    /// A JSON spec file, as `preprocess --print-spec` writes.
    public var specFile: String?
    /// The input that takes the images (nil: the one 4-D input with 3 channels).
    public var inputName: String?
    /// The size pictures are brought to, height and width (`--size`): for models whose input
    /// size is symbolic, or to override a preset's.
    public var size: (height: Int, width: Int)?
    /// The size the model was exported for (height, width; `ExportMetadata.imageSize`): taken
    /// where the input's size is symbolic and neither `size` nor a preset gives one.
    public var exportSize: [Int]?

    public init(preset: String? = nil, specFile: String? = nil, inputName: String? = nil, size: (height: Int, width: Int)? = nil, exportSize: [Int]? = nil) {
        self.preset = preset
        self.specFile = specFile
        self.inputName = inputName
        self.size = size
        self.exportSize = exportSize
    }

    /// Whether the user named the preprocessing (else it is guessed from the model's size).
    public var isGiven: Bool { preset != nil || specFile != nil }

    /// The model's image input and a preprocessor fitted to it: its element type, layout and (when
    /// the model fixes it) size. A symbolic size takes `size`, else `exportSize` (the size the
    /// model was exported for, from its metadata: Ultralytics' `imgsz`).
    public func preprocessor(for inputs: [TensorDescription]) throws(PrecisionError) -> (input: TensorDescription, preprocessor: Preprocessor) {
        let input = try imageInput(inputs)
        var spec = try baseSpec(for: input)
        if let size { (spec.height, spec.width) = size }
        guard let dtype = input.elementType, let type = Self.outputType(dtype) else {
            throw .badOption("input '\(input.name)' takes \(input.elementType.map { "\($0)" } ?? "no tensor"); images can feed float32, float16, bfloat16, uint8 or int8 inputs")
        }
        spec.dtype = type
        if type == .uint8 { spec.scale = 1.0 / 255.0; spec.mean = [0, 0, 0]; spec.std = [1, 1, 1] }
        spec.layout = input.dimensions[1] == 3 ? .nchw : .nhwc
        let (h, w) = spec.layout == .nchw ? (input.dimensions[2], input.dimensions[3]) : (input.dimensions[1], input.dimensions[2])
        if let h, let w, (h, w) != (spec.height, spec.width) {
            guard !isGiven && size == nil else {
                throw .badOption("the preprocessing spec makes \(spec.height)x\(spec.width) images but input '\(input.name)' takes \(h)x\(w)")
            }
            (spec.height, spec.width) = (h, w)
        }
        do { return (input, try Preprocessor(spec: spec)) } catch { throw .badOption("\(error)") }
    }

    /// Decodes the pictures at `paths` (files or folders) and fits the preprocessing to the model.
    public func feed(_ paths: [String], for inputs: [TensorDescription]) throws -> ImageFeed {
        let (input, preprocessor) = try preprocessor(for: inputs)
        let files = try ImageFiles.expand(paths)
        let decoded = try ImageDecoder().decode(files: files)
        if let batch = input.dimensions[0], batch < files.count {
            throw PrecisionError.badOption("input '\(input.name)' has a fixed batch of \(batch); \(files.count) images do not fit (give at most \(batch))")
        }
        return ImageFeed(name: input.name, preprocessor: preprocessor, images: decoded, batchSize: input.dimensions[0] ?? files.count)
    }

    private func imageInput(_ inputs: [TensorDescription]) throws(PrecisionError) -> TensorDescription {
        if let inputName {
            guard let found = inputs.first(where: { $0.name == inputName }) else {
                throw .badOption("--image-input \(inputName): the model has no such input (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
            }
            guard found.dimensions.count == 4, found.dimensions[1] == 3 || found.dimensions[3] == 3 else {
                throw .badOption("--image-input \(inputName): expected a 4-D input with 3 channels (NCHW or NHWC), got \(found)")
            }
            return found
        }
        let candidates = inputs.filter { $0.dimensions.count == 4 && ($0.dimensions[1] == 3 || $0.dimensions[3] == 3) }
        guard candidates.count == 1 else {
            throw .badOption(candidates.isEmpty ? "the model has no 4-D input with 3 channels to take images (inputs: \(inputs.map(\.description).joined(separator: ", ")))"
                                                : "several inputs could take the images; pick one with --image-input (\(candidates.map(\.name).joined(separator: ", ")))")
        }
        return candidates[0]
    }

    private func baseSpec(for input: TensorDescription) throws(PrecisionError) -> PreprocessSpec {
        if let preset {
            guard specFile == nil else { throw .badOption("give --image-preset or --image-spec, not both") }
            guard let named = PreprocessSpec.preset(named: preset) else {
                throw .badOption("--image-preset \(preset): unknown; use one of \(PreprocessSpec.presets.map(\.name).joined(separator: ", "))")
            }
            return named
        }
        if let specFile {
            do { return try PreprocessSpec.decodeJSON(try FileBytes.read(specFile), source: specFile) } catch { throw .badOption("\(error)") }
        }
        let dims = input.dimensions[1] == 3 ? input.dimensions.suffix(2) : input.dimensions.dropFirst().prefix(2)
        if let h = dims.first!, let w = dims.last! { return PreprocessSpec(height: h, width: w) }
        if let size { return PreprocessSpec(height: size.height, width: size.width) }
        if let exportSize, exportSize.count == 2 { return PreprocessSpec(height: exportSize[0], width: exportSize[1]) }
        throw .badOption("input '\(input.name)' has a symbolic image size and the model records none (no imgsz in its metadata); give --size HxW, --image-preset or --image-spec")
    }

    static func outputType(_ dtype: DType) -> PreprocessSpec.OutputType? {
        [DType.float32: PreprocessSpec.OutputType.float32, .float16: .float16, .bfloat16: .bfloat16, .uint8: .uint8, .int8: .int8][dtype]
    }
}

/// Decoded images bound to one model input.
public struct ImageFeed {
    public let name: String
    public let preprocessor: Preprocessor
    public let images: [Image]
    public let batchSize: Int

    /// The input batch (a fresh preprocessing pass each call, so benchmarks can time it).
    public func tensor() throws -> Tensor {
        try preprocessor.batch(images, size: batchSize).0
    }

    public var summary: String {
        let s = preprocessor.spec
        return "\(images.count) images -> '\(name)' \(s.dtype.rawValue) \(s.layout.rawValue) [\(batchSize), \(s.height)x\(s.width)] (\(s.resize.rawValue), \(s.order.rawValue))"
    }
}

/// What an exporter records about the pictures a model was made for (Ultralytics writes `imgsz`
/// and `stride` into the model's metadata): the one reader, for image feeds and run checks.
public struct ExportMetadata: Sendable {
    /// `imgsz` ("[640, 640]", or one number): height, width.
    public let imageSize: [Int]?
    /// `stride`: the multiple the image size must be.
    public let stride: Int?

    public init(_ model: Model) { self.init(metadata: model.metadata) }

    /// Read from the model file at `path` without decoding its graph.
    public init(contentsOf path: String) throws { self.init(metadata: try Model.metadata(ofFileAt: path)) }

    init(metadata: [(key: String, value: String)]) {
        let value = { (key: String) in metadata.first { $0.key == key }?.value }
        let numbers = value("imgsz").map { $0.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.filter { $0 > 0 } } ?? []
        imageSize = numbers.count == 1 ? [numbers[0], numbers[0]] : numbers.count == 2 ? numbers : nil
        stride = value("stride").flatMap { Int($0) }.flatMap { $0 > 1 ? $0 : nil }
    }
}
