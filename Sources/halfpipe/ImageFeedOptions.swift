import ArgumentParser
import Inference
import Precision

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

    var request: ImageFeedRequest { ImageFeedRequest(preset: preset, specFile: spec, inputName: inputName) }

    /// Decodes the images and fits the spec to the model's image input.
    func prepare(for inputs: [TensorDescription]) throws -> ImageFeed { try request.feed(images, for: inputs) }
}
