import ArgumentParser
import Imaging
import Inference
import Precision

/// Real images as a model's input: decoded once, then preprocessed into the model's image input
/// (its element type and layout taken from the model) by a preset or a JSON spec.
struct ImageFeedOptions: ParsableArguments {
    @Option(name: .customLong("images"), help: ArgumentHelp("Feed real images (JPEG/PNG files or folders) to the model's image input.", valueName: "path"))
    var images: [String] = []

    @Option(name: .customLong("image-preset"), help: ArgumentHelp("Preprocessing preset for the pictures (see `halfpipe preprocess --list-presets`).", valueName: "name"))
    var preset: String?

    @Option(name: .customLong("image-spec"), help: ArgumentHelp("Preprocessing spec for the pictures (JSON, as `preprocess --print-spec` writes).", valueName: "spec.json"))
    var spec: String?

    @Option(name: .customLong("size"), help: ArgumentHelp("Bring the pictures to HEIGHTxWIDTH (or N for N×N): for a model whose input size is symbolic (default: the size its metadata records, Ultralytics' imgsz), or instead of a preset's.", valueName: "HxW"))
    var size: String?

    @Option(name: .customLong("image-input"), help: ArgumentHelp("The input that takes the images (default: the one 4-D input with 3 channels).", valueName: "name"))
    var inputName: String?

    var given: Bool { !images.isEmpty }

    var request: ImageFeedRequest {
        get throws {
            let parsed = try size.map { text -> (height: Int, width: Int) in
                do { let (h, w) = try PreprocessSpec.parseSize(text); return (h, w) } catch { throw CLIError("--size \(text): \(error)") }
            }
            return ImageFeedRequest(preset: preset, specFile: spec, inputName: inputName, size: parsed)
        }
    }

    /// The request for the model at `model`, with the size it was exported for (its metadata).
    func request(model: String) throws -> ImageFeedRequest {
        var request = try self.request
        request.exportSize = try ExportMetadata(contentsOf: model).imageSize
        return request
    }

    /// Decodes the images and fits the spec to the image input of the model at `model`.
    func prepare(for inputs: [TensorDescription], model: String) throws -> ImageFeed { try request(model: model).feed(images, for: inputs) }
}
