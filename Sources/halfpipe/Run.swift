import ArgumentParser
import FoundationEssentials
import ONNXRuntime
import Tensors

/// `halfpipe run MODEL …`: one inference through ONNX Runtime, outputs to an .npz.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model once through ONNX Runtime and save its outputs.",
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
        let session = try ORTSession(contentsOf: model, options: try runtime.sessionOptions())
        let feeds = try feed.feeds(for: session.inputs)
        let outputs = try session.run(feeds)
        for description in session.outputs {
            guard let tensor = outputs[description.name] else { continue }
            print("\(description.name): \(tensor.dtype) [\(tensor.shape.dimensions.map(String.init).joined(separator: ", "))]")
        }
        if let output {
            try NPZ.write(session.outputs.compactMap { d in outputs[d.name].map { (d.name, $0) } }, to: output)
            print("wrote \(output)")
        }
    }
}

extension RuntimeOptions {
    func sessionOptions() throws -> SessionOptions {
        var options = SessionOptions()
        guard let level = ["disabled": SessionOptions.OptimizationLevel.disabled, "basic": .basic, "extended": .extended, "layout": .layout, "all": .all][optimization] else {
            throw CLIError("--optimization \(optimization): use disabled, basic, extended, layout or all")
        }
        guard threads >= 0 else { throw CLIError("--threads \(threads): use 0 (automatic) or a positive count") }
        options.optimizationLevel = level
        options.intraOpThreads = threads
        options.libraryPath = ortLibrary
        if !providers.isEmpty { options.executionProviders = providers.map(SessionOptions.ExecutionProvider.init(parsing:)) }
        return options
    }
}
