import ArgumentParser
import Tensors
import FoundationEssentials
import ONNX

/// `halfpipe inspect MODEL [--json]`: what is in a model, and what float16 would break.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's inputs, outputs, opsets, ops, parameters and FP16 risks.",
        discussion: """
            Examples:
              halfpipe inspect model.onnx
              halfpipe inspect model.onnx --json | jq .risks
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "How many ops of the histogram to list in the table (JSON lists all).")
    var top = 12

    func run() throws {
        let loaded = try Model.load(contentsOf: model)
        let summary = try ModelSummary(loaded, path: model)
        if json {
            print(try ReportJSON.text(summary))
        } else {
            print(InspectReport(summary, top: top).text)
        }
    }
}
