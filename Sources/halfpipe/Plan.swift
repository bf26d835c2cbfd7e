import ArgumentParser
import CUDAEngine
import FoundationEssentials
import Inference
import ONNX
import Tensors

/// `halfpipe plan MODEL --device cuda`: how the CUDA engine would run a model, without a GPU.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show how the CUDA engine runs a model: steps, fusions, views, host folding, memory.",
        discussion: """
            Planning is host work: this runs on any machine. Nodes the engine cannot run are named.
            Examples:
              halfpipe plan resnet50.onnx --device cuda --shape input=128x3x224x224
              halfpipe plan det.onnx --device cuda --json
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: ArgumentHelp("The device to plan for (cuda or cuda:N; the plan is the same on every GPU).", valueName: "device"))
    var device = DeviceSelection.one(.cuda(0))

    @Option(name: .customLong("shape"), help: ArgumentHelp("An input's shape, for symbolic dimensions (x=1x3x224x224); repeatable.", valueName: "name=shape"))
    var shapes: [String] = []

    @Option(help: "Batch size for a symbolic first dimension of the inputs without --shape.")
    var batch = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard device.wantsGPU else { throw CLIError("--device \(device): plan shows the CUDA engine's plan; use --device cuda") }
        let loaded = try Model.load(contentsOf: model)
        let constants = Set(loaded.graph.initializers.map(\.name))
        let inputs = loaded.graph.inputs.filter { !constants.contains($0.name) }.map(TensorDescription.init)
        var given: [String: [Int]] = [:]
        for spec in shapes {
            let (name, dims) = try FeedOptions.shape(spec, of: inputs)
            given[name] = dims
        }
        for input in inputs { given[input.name] = try FeedOptions.dimensions(of: input, given: given[input.name], batch: batch) }
        let plan = try GraphLowering.lower(loaded, inputShapes: given, fallback: Backends.hostFallback(libraryPath: nil))
        let report = PlanReport(plan: plan, model: model)
        if json {
            print(try ReportJSON.text(report))
        } else {
            print(report.text)
        }
    }
}
