import ArgumentParser
import CUDAEngine
import FoundationEssentials
import ONNX

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
    var device = "cuda"

    @Option(name: .customLong("shape"), help: ArgumentHelp("An input's shape, for symbolic dimensions (x=1x3x224x224); repeatable.", valueName: "name=shape"))
    var shapes: [String] = []

    @Option(help: "Batch size for a symbolic first dimension of the inputs without --shape.")
    var batch = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard device.lowercased().hasPrefix("cuda") else { throw CLIError("--device \(device): plan shows the CUDA engine's plan; use --device cuda") }
        let loaded = try Model.load(contentsOf: model)
        var given: [String: [Int]] = [:]
        for text in shapes {
            let parts = text.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, case let dims = parts[1].split(separator: "x").compactMap({ Int($0) }), dims.count == parts[1].split(separator: "x").count, !dims.isEmpty else {
                throw CLIError("--shape \(text): write NAME=DxDx… (e.g. x=1x3x224x224)")
            }
            given[String(parts[0])] = dims
        }
        let constants = Set(loaded.graph.initializers.map(\.name))
        for input in loaded.graph.inputs where !constants.contains(input.name) && given[input.name] == nil {
            let dims = input.shape ?? []
            if dims.contains(where: { if case .fixed(let n) = $0 { n <= 0 } else { true } }) {
                given[input.name] = dims.enumerated().map { axis, d in
                    if case .fixed(let n) = d, n > 0 { return n }
                    return axis == 0 ? batch : 1
                }
            }
        }
        let plan = try GraphLowering.lower(loaded, inputShapes: given, fallback: Backends.hostFallback(libraryPath: nil))
        let report = PlanReport(plan: plan, model: model)
        if json {
            print(try ReportJSON.text(report))
        } else {
            print(report.text)
        }
    }
}
