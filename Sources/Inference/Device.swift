/// Where a session computes or a batch is preprocessed.
public enum Device: Hashable, Sendable, CustomStringConvertible {
    case cpu
    /// An NVIDIA GPU by its CUDA ordinal.
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let n): "cuda:\(n)"
        }
    }

    public var isGPU: Bool { if case .cuda = self { true } else { false } }
}

/// What the user asked for with `--device`: one device, or every GPU (`cuda:all`). Parsed once,
/// here; resolving it against the GPUs present is the command line's job (it knows about CUDA).
public enum DeviceSelection: Hashable, Sendable, CustomStringConvertible {
    case one(Device)
    case allCUDA

    /// Parses `cpu`, `cuda` (= `cuda:0`), `cuda:N` and `cuda:all`, in any letter case.
    public init(parsing text: String) throws(InferenceError) {
        let lower = text.lowercased()
        switch lower {
        case "cpu": self = .one(.cpu)
        case "cuda": self = .one(.cuda(0))
        case "cuda:all": self = .allCUDA
        default:
            guard lower.hasPrefix("cuda:"), let n = Int(lower.dropFirst(5)), n >= 0, !lower.dropFirst(5).hasPrefix("+") else {
                throw InferenceError.badDevice("--device \(text): use cpu, cuda, cuda:N or cuda:all")
            }
            self = .one(.cuda(n))
        }
    }

    public var description: String {
        switch self {
        case .one(let d): d.description
        case .allCUDA: "cuda:all"
        }
    }

    public var wantsGPU: Bool { self != .one(.cpu) }

    /// The devices this selection names on a machine with `gpuCount` CUDA devices. A GPU index the
    /// machine lacks is an error naming the GPUs there are.
    public func resolve(gpuCount: Int) throws(InferenceError) -> [Device] {
        switch self {
        case .one(.cpu): return [.cpu]
        case .one(.cuda(let n)):
            guard n < gpuCount else {
                let names = gpuCount == 1 ? " (cuda:0)" : gpuCount > 1 ? " (cuda:0…cuda:\(gpuCount - 1))" : ""
                throw InferenceError.badDevice("--device cuda:\(n): this machine has \(gpuCount) CUDA device\(gpuCount == 1 ? "" : "s")\(names)")
            }
            return [.cuda(n)]
        case .allCUDA:
            guard gpuCount > 0 else { throw InferenceError.badDevice("--device cuda:all: this machine has no CUDA device") }
            return (0..<gpuCount).map(Device.cuda)
        }
    }
}
