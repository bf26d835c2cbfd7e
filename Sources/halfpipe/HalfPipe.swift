import ArgumentParser
import CUDA
import CUDAEngine
import Detection
import Imaging
import ONNX
import Inference
import Pipeline
import ONNXRuntime
import Precision
import Tensors

/// The `halfpipe` command: reduced-precision vision inference, one subcommand per job.
@main
struct HalfPipe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "halfpipe",
        abstract: "Make vision models fast through reduced precision (FP16, BF16, INT8).",
        discussion: """
            Exit codes: 0 success, 1 a failed check, 2 bad usage or bad input, 70 an internal error (a bug: please report it).
            """,
        version: "0.1.0",
        subcommands: [Inspect.self, Convert.self, Quantize.self, Run.self, Bench.self, Compare.self, Preprocess.self, Detect.self, Plan.self, Devices.self]
    )

    /// Runs the command, mapping every failure to a one-line message and the exit codes of the
    /// design (2 for bad usage or input) instead of ArgumentParser's defaults.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as any HalfPipeError where error.isInternal {
            printStandardError("halfpipe: internal error: \(error.description)")
            printStandardError("halfpipe: this is a bug in halfpipe, not in your input; please report it with the command line and this message")
            exit(withError: ExitCode(70))   // EX_SOFTWARE
        } catch let error as any HalfPipeError {
            fail(error.description, code: error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode { exit(withError: error) }
            // A value outside an option's set: one line naming the values there are. Other usage
            // errors: ArgumentParser's message with the usage. Then our exit code 2.
            let message = message(for: error)
            printStandardError(message.firstRange(of: "is invalid for") != nil ? "halfpipe: error: \(message)" : fullMessage(for: error))
            exit(withError: ExitCode(2))
        }
    }

    static func fail(_ message: String, code: Int32 = 2) -> Never {
        printStandardError("halfpipe: error: \(message)")
        exit(withError: ExitCode(code))
    }
}

/// The errors of our own modules: each says what, where and how to fix in one line, and means
/// bad input (exit code 2), unless it is a broken invariant of our own (`isInternal`: exit code
/// 70). One conformance per module instead of one catch clause each.
protocol HalfPipeError: Error, CustomStringConvertible {
    var isInternal: Bool { get }
    /// 2 (bad input), or 1 where the error is a check the result failed.
    var exitCode: Int32 { get }
}

extension HalfPipeError {
    var isInternal: Bool { false }
    var exitCode: Int32 { 2 }
}
extension ONNXError: HalfPipeError {}
extension TensorError: HalfPipeError {}
extension ORTError: HalfPipeError {}
extension CUDAError: HalfPipeError {}
extension ImagingError: HalfPipeError {}
extension VideoError: HalfPipeError {}
extension DetectionError: HalfPipeError {}
extension PipelineError: HalfPipeError {}  // isInternal: its own
extension PrecisionError: HalfPipeError {
    var exitCode: Int32 {
        if case .accuracyNotMet = self { return 1 }
        return 2
    }
}
extension InferenceError: HalfPipeError {}
extension EngineError: HalfPipeError {}  // isInternal: its own

/// Bad input the command line itself detects.
struct CLIError: HalfPipeError {
    var description: String
    init(_ description: String) { self.description = description }
}
