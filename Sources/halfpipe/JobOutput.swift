import ArgumentParser
import FoundationEssentials
import Precision
import Tensors

/// What `convert` and `quantize` print when their job is done, in the same order: the stage
/// timings (standard error), the JSON report file, the summary (or the report as JSON), then the
/// check, which runs last so what it finds (or fails on) loses nothing already written.
enum JobOutput {
    static func finish<Report: Encodable>(stages: [(name: String, milliseconds: Double)]?, report: Report, summary: [String],
                                          reportPath: String?, json: Bool, title: String, check: () throws -> CheckResult?) throws {
        if let laps = stages {
            printStandardError("timings: " + laps.map { "\($0.name) \(NumberText.fixed($0.milliseconds, 1)) ms" }.joined(separator: ", ")
                + "; total \(NumberText.fixed(laps.reduce(0) { $0 + $1.milliseconds }, 1)) ms")
        }
        if let reportPath { try FileBytes.writeAtomically(try ReportJSON.data(report), to: reportPath) }
        if json {
            print(try ReportJSON.text(report))
        } else {
            print(title)
            summary.forEach { print($0) }
        }
        if let result = try check() {
            print(try CheckText.text(result, json: json))
            if !result.passed { throw ExitCode.failure }
        }
    }
}
