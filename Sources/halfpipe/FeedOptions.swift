import ArgumentParser
import Inference
import Tensors

/// How a command gets its input tensors: .npy files by name, an .npz of them, or random values.
struct FeedOptions: ParsableArguments {
    @Option(name: .customLong("input"), help: ArgumentHelp("An input from a .npy file.", valueName: "name=file.npy"))
    var inputs: [String] = []

    @Option(name: .customLong("inputs"), help: ArgumentHelp("All inputs from an .npz (member names = input names).", valueName: "feed.npz"))
    var feedArchive: String?

    @Flag(help: "Fill inputs not given otherwise with random values (floats normal, integers 0…9).")
    var random = false

    @Option(help: "Seed of --random.")
    var seed: UInt64 = 0

    @Option(name: .customLong("shape"), help: ArgumentHelp("Concrete shape for an input with symbolic dimensions.", valueName: "name=1x3x640x640"))
    var shapes: [String] = []

    /// The feed for a model with inputs `wanted`.
    func feeds(for wanted: [TensorDescription], batch: Int? = nil, forceRandom: Bool = false) throws -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        if let feedArchive {
            for (name, tensor) in try NPZ.read(contentsOf: feedArchive) { feeds[name] = tensor }
        }
        for spec in inputs {
            let (name, path) = try Self.split(spec, "--input", "name=file.npy")
            feeds[name] = try NPY.read(contentsOf: path)
        }
        var shapeOverrides: [String: [Int]] = [:]
        for spec in shapes {
            let (name, text) = try Self.split(spec, "--shape", "name=1x3x640x640")
            let dims = text.split(separator: "x").map { Int($0) }
            guard !dims.isEmpty, dims.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw CLIError("--shape \(spec): write dimensions as 1x3x640x640") }
            guard wanted.contains(where: { $0.name == name }) else { throw CLIError("--shape \(spec): the model has no input '\(name)' (inputs: \(wanted.map(\.name).joined(separator: ", ")))") }
            shapeOverrides[name] = dims.map { $0! }
        }
        guard random || forceRandom else { return feeds }
        var generator = SeededGenerator(seed: seed)
        for input in wanted where feeds[input.name] == nil {
            guard let dtype = input.elementType else { throw CLIError("input '\(input.name)' is not a tensor; --random cannot make it") }
            let dims: [Int]
            if let given = shapeOverrides[input.name] {
                dims = given
            } else if input.dimensions.allSatisfy({ $0 != nil }) {
                dims = input.dimensions.map { $0! }
            } else if input.dimensions.dropFirst().allSatisfy({ $0 != nil }) {
                dims = [batch ?? 1] + input.dimensions.dropFirst().map { $0! }  // only the batch is symbolic
            } else {
                throw CLIError("input \(input) has symbolic dimensions; give them with --shape \(input.name)=" + input.dimensions.map { $0.map(String.init) ?? "N" }.joined(separator: "x"))
            }
            feeds[input.name] = try Tensor.random(dtype: dtype, shape: try Shape(dims), generator: &generator)
        }
        return feeds
    }

    static func split(_ spec: String, _ option: String, _ example: String) throws -> (String, String) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw CLIError("\(option) \(spec): write it as \(example)") }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }
}
