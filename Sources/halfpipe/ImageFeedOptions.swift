import ArgumentParser
import FoundationEssentials
import Imaging
import Inference
import Tensors

/// Real images as a model's input: decoded once, then preprocessed into the model's image input
/// (its element type and layout taken from the model) by a preset or a JSON spec.
struct ImageFeedOptions: ParsableArguments {
    @Option(name: .customLong("images"), help: ArgumentHelp("Feed real images (JPEG/PNG files or folders) to the model's image input.", valueName: "path"))
    var images: [String] = []

    @Option(name: .customLong("image-preset"), help: ArgumentHelp("Preprocessing preset for --images (see `halfpipe preprocess --list-presets`).", valueName: "name"))
    var preset: String?

    @Option(name: .customLong("image-spec"), help: ArgumentHelp("Preprocessing spec for --images (JSON, as `preprocess --print-spec` writes).", valueName: "spec.json"))
    var spec: String?

    @Option(name: .customLong("image-input"), help: ArgumentHelp("The input that takes the images (default: the one 4-D input with 3 channels).", valueName: "name"))
    var inputName: String?

    var given: Bool { !images.isEmpty }

    /// Decodes the images and fits the spec to the model's image input.
    func prepare(for inputs: [TensorDescription]) throws -> ImageFeed {
        let (input, preprocessor) = try preprocessor(for: inputs)
        let files = try ImageFiles.expand(images)
        let decoded = try ImageDecoder().decode(files: files)
        if let batch = input.dimensions[0], batch < files.count {
            throw CLIError("input '\(input.name)' has a fixed batch of \(batch); \(files.count) images do not fit (give at most \(batch))")
        }
        return ImageFeed(name: input.name, preprocessor: preprocessor, images: decoded, batchSize: input.dimensions[0] ?? files.count)
    }

    /// The model's image input and a preprocessor fitted to it: its element type, layout and
    /// (when the model fixes it) size.
    func preprocessor(for inputs: [TensorDescription]) throws -> (input: TensorDescription, preprocessor: Preprocessor) {
        let input = try imageInput(inputs)
        var spec = try baseSpec(for: input)
        guard let dtype = input.elementType, let type = Self.outputType(dtype) else {
            throw CLIError("input '\(input.name)' takes \(input.elementType.map { "\($0)" } ?? "no tensor"); images can feed float32, float16, bfloat16, uint8 or int8 inputs")
        }
        spec.dtype = type
        if type == .uint8 { spec.scale = 1.0 / 255.0; spec.mean = [0, 0, 0]; spec.std = [1, 1, 1] }
        spec.layout = input.dimensions[1] == 3 ? .nchw : .nhwc
        let (h, w) = spec.layout == .nchw ? (input.dimensions[2], input.dimensions[3]) : (input.dimensions[1], input.dimensions[2])
        if let h, let w, (h, w) != (spec.height, spec.width) {
            guard preset == nil && self.spec == nil else {
                throw CLIError("the preprocessing spec makes \(spec.height)x\(spec.width) images but input '\(input.name)' takes \(h)x\(w)")
            }
            (spec.height, spec.width) = (h, w)
        }
        return (input, try Preprocessor(spec: spec))
    }

    private func imageInput(_ inputs: [TensorDescription]) throws -> TensorDescription {
        if let inputName {
            guard let found = inputs.first(where: { $0.name == inputName }) else {
                throw CLIError("--image-input \(inputName): the model has no such input (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
            }
            guard found.dimensions.count == 4, found.dimensions[1] == 3 || found.dimensions[3] == 3 else {
                throw CLIError("--image-input \(inputName): expected a 4-D input with 3 channels (NCHW or NHWC), got \(found)")
            }
            return found
        }
        let candidates = inputs.filter { $0.dimensions.count == 4 && ($0.dimensions[1] == 3 || $0.dimensions[3] == 3) }
        guard candidates.count == 1 else {
            throw CLIError(candidates.isEmpty ? "the model has no 4-D input with 3 channels to take images (inputs: \(inputs.map(\.description).joined(separator: ", ")))"
                                              : "several inputs could take the images; pick one with --image-input (\(candidates.map(\.name).joined(separator: ", ")))")
        }
        return candidates[0]
    }

    private func baseSpec(for input: TensorDescription) throws -> PreprocessSpec {
        if let preset {
            guard spec == nil else { throw CLIError("give --image-preset or --image-spec, not both") }
            guard let named = PreprocessSpec.preset(named: preset) else {
                throw CLIError("--image-preset \(preset): unknown; use one of \(PreprocessSpec.presets.map(\.name).joined(separator: ", "))")
            }
            return named
        }
        if let spec { return try PreprocessSpec.decodeJSON(try FileBytes.read(spec), source: spec) }
        // No spec: letterbox to the model's size (Ultralytics' defaults), when the model fixes it.
        let dims = input.dimensions[1] == 3 ? input.dimensions.suffix(2) : input.dimensions.dropFirst().prefix(2)
        guard let h = dims.first!, let w = dims.last! else {
            throw CLIError("input '\(input.name)' has a symbolic image size; give --image-preset or --image-spec")
        }
        return PreprocessSpec(height: h, width: w)
    }

    static func outputType(_ dtype: DType) -> PreprocessSpec.OutputType? {
        [DType.float32: PreprocessSpec.OutputType.float32, .float16: .float16, .bfloat16: .bfloat16, .uint8: .uint8, .int8: .int8][dtype]
    }
}

/// Decoded images bound to one model input.
struct ImageFeed {
    let name: String
    let preprocessor: Preprocessor
    let images: [Image]
    let batchSize: Int

    /// The input batch (a fresh preprocessing pass each call, so benchmarks can time it).
    func tensor() throws -> Tensor {
        try preprocessor.batch(images, size: batchSize).0
    }

    var summary: String {
        let s = preprocessor.spec
        return "\(images.count) images -> '\(name)' \(s.dtype.rawValue) \(s.layout.rawValue) [\(batchSize), \(s.height)x\(s.width)] (\(s.resize.rawValue), \(s.order.rawValue))"
    }
}
