import ArgumentParser
import FoundationEssentials
import Inference
import Tensors

/// `halfpipe run MODEL …`: one inference on the backend `--device` picks, outputs to an .npz.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model once (ONNX Runtime on the CPU; the CUDA engine with --device cuda) and save its outputs.",
        discussion: """
            Examples:
              halfpipe run model.onnx --input x=image.npy -o out.npz
              halfpipe run model.onnx --inputs feed.npz -o out.npz
              halfpipe run model.onnx --random --shape x=1x3x640x640 -o out.npz
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @OptionGroup var feed: FeedOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the outputs (.npz).", valueName: "out.npz"))
    var output: String?

    func run() throws {
        let session = try runtime.target().session(.file(model))
        let feeds = try feed.feeds(for: session.inputs)
        let outputs = try session.run(values: feeds.mapValues { .tensor($0) }, outputNames: nil)
        // Sequences are saved element by element as NAME/0, NAME/1, …; an empty optional is not saved.
        var saved: [(name: String, tensor: Tensor)] = []
        for description in session.outputs {
            guard let value = outputs[description.name] else { continue }
            for (name, tensor) in Self.flatten(value, name: description.name) {
                print("\(name): \(tensor.map { "\($0.dtype) [\($0.shape.dimensions.map(String.init).joined(separator: ", "))]" } ?? "empty optional")")
                if let tensor { saved.append((name, tensor)) }
            }
        }
        if let output {
            try NPZ.write(saved, to: output)
            print("wrote \(output)")
        }
    }

    static func flatten(_ value: SessionValue, name: String) -> [(String, Tensor?)] {
        switch value {
        case .tensor(let t): [(name, t)]
        case .optional(let inner): inner.map { flatten($0, name: name) } ?? [(name, nil)]
        case .sequence(let elements): elements.enumerated().flatMap { flatten($1, name: "\(name)/\($0)") }
        }
    }
}
