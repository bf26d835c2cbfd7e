import FoundationEssentials
import CUDA
import Synchronization
import Tensors

/// The algorithm chosen for each convolution, timed once and kept on disk: one file per GPU name
/// and cuDNN version (TensorRT's timing cache), a line per convolution, `key<TAB>algorithm`.
/// A cache that cannot be read or written only costs the next run its timing.
final class KernelChoiceCache: @unchecked Sendable {
    let path: String?
    private let entries: Mutex<[String: Int32]>

    static let directoryVariable = "HALFPIPE_ENGINE_CACHE"

    init(gpu: String, cudnnVersion: Int) {
        let environment = ProcessInfo.processInfo.environment
        let directory = environment[Self.directoryVariable].map { $0.isEmpty ? nil : $0 } ?? environment["HOME"].map { $0 + "/.cache/halfpipe/engine" }
        let safeName = String(gpu.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        path = directory.map { "\($0)/choices-v3-\(safeName)-cudnn\(cudnnVersion).tsv" }
        var loaded: [String: Int32] = [:]
        if let path, let data = try? FileBytes.read(path) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count == 2, let algorithm = Int32(parts[1]) { loaded[String(parts[0])] = algorithm }
            }
        }
        entries = Mutex(loaded)
    }

    static func key(_ geometry: ConvolutionGeometry, _ activation: ConvolutionActivation, residual: Bool) -> String {
        let act = switch activation {
        case .identity: "id"
        case .relu: "relu"
        case .clippedRelu(let c): "clip\(c)"
        }
        return "\(geometry) \(act)\(residual ? " +z" : "")"
    }

    subscript(key: String) -> Int32? { entries.withLock { $0[key] } }

    func record(_ choices: [String: Int32]) {
        guard !choices.isEmpty, let path else { return }
        let text = entries.withLock { e -> String in
            e.merge(choices) { _, new in new }
            return e.sorted { $0.key < $1.key }.map { "\($0.key)\t\($0.value)\n" }.joined()
        }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileBytes.writeAtomically(Data(text.utf8), to: path)
    }
}
