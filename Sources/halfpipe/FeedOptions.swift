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
            let (name, dims) = try Self.shape(spec, of: wanted)
            shapeOverrides[name] = dims
        }
        guard random || forceRandom else { return feeds }
        var generator = SeededGenerator(seed: seed)
        for input in wanted where feeds[input.name] == nil {
            guard let dtype = input.elementType else { throw CLIError("input '\(input.name)' is not a tensor; --random cannot make it") }
            let dims = try Self.dimensions(of: input, given: shapeOverrides[input.name], batch: batch)
            feeds[input.name] = try Tensor.random(dtype: dtype, shape: try Shape(dims), generator: &generator)
        }
        return feeds
    }

    /// The `--shape` values by input name, their input names not yet checked against a model.
    func givenShapes() throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for spec in self.shapes {
            let (name, dims) = try Self.parseShape(spec)
            shapes[name] = dims
        }
        return shapes
    }

    static func parseShape(_ spec: String) throws -> (name: String, dims: [Int]) {
        let (name, text) = try split(spec, "--shape", "name=1x3x640x640")
        let dims = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard !dims.isEmpty, dims.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw CLIError("--shape \(spec): write dimensions as 1x3x640x640") }
        return (name, dims.map { $0! })
    }

    /// A `--shape name=1x3x640x640` value, for one of `inputs`.
    static func shape(_ spec: String, of inputs: [TensorDescription]) throws -> (name: String, dims: [Int]) {
        let (name, dims) = try parseShape(spec)
        guard inputs.contains(where: { $0.name == name }) else {
            throw CLIError("--shape \(spec): the model has no input '\(name)' (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
        }
        return (name, dims)
    }

    /// An input's concrete shape: the one given, its declared one, or `batch` for a symbolic first
    /// dimension; other symbolic dimensions must be given.
    static func dimensions(of input: TensorDescription, given: [Int]?, batch: Int?) throws -> [Int] {
        if let given { return given }
        if input.dimensions.allSatisfy({ $0 != nil }) { return input.dimensions.map { $0! } }
        if input.dimensions.dropFirst().allSatisfy({ $0 != nil }) { return [batch ?? 1] + input.dimensions.dropFirst().map { $0! } }
        throw CLIError("input \(input) has symbolic dimensions; give them with --shape \(input.name)=" + input.dimensions.map { $0.map(String.init) ?? "N" }.joined(separator: "x"))
    }

    static func split(_ spec: String, _ option: String, _ example: String) throws -> (String, String) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw CLIError("\(option) \(spec): write it as \(example)") }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }
}
