import Inference
import Tensors

/// Inputs and outputs bound once for repeated runs: ORT reads the bound input tensors and writes
/// the outputs straight into our pre-allocated output tensors, with no copy and no allocation per
/// run. The binding owns those tensors (and so keeps their memory alive while ORT holds it).
public final class ORTIOBinding: BoundRun {
    private let session: ORTSession
    private let library: ORTLibrary
    private let handle: ORTHandle
    private var values: [ORTHandle] = []
    private var inputs: [String: Tensor] = [:]
    /// The output tensors ORT writes into, by name.
    public private(set) var outputs: [String: Tensor] = [:]

    /// Binds `inputs` (every model input) and allocates every output with the given shapes.
    public init(session: ORTSession, inputs: [String: Tensor], outputShapes: [String: Shape]) throws(ORTError) {
        self.session = session
        library = session.library
        var h: ORTHandle?
        try library.api.check(library.api.createIoBinding(session.handle, &h), "creating an I/O binding for \(session.source)")
        handle = h!
        try session.checkFeeds(inputs)
        for description in session.outputs {
            guard let shape = outputShapes[description.name], let dtype = description.elementType, dtype != .string else {
                throw ORTError(code: .badInput, message: "output '\(description.name)' needs a shape (and a numeric element type) to be pre-allocated", operation: "binding outputs")
            }
            do { outputs[description.name] = try Tensor(dtype: dtype, shape: shape) } catch {
                throw ORTError(code: .badInput, message: "\(error)", operation: "binding output '\(description.name)'")
            }
        }
        self.inputs = inputs
        // Inputs uniquely ours too: `write(input:)` fills them in place, where ORT reads.
        for name in inputs.keys { self.inputs[name]!.withUnsafeMutableBytes { _ in } }
        // Bind through the tensors' storage: `outputs` and `inputs` live as long as the binding and
        // are never reassigned, so the addresses ORT holds stay valid.
        for (name, tensor) in self.inputs { try bind(name, tensor, asOutput: false) }
        for name in outputs.keys { try bindOutput(name) }
    }

    deinit {
        library.api.releaseIoBinding(handle)
        for v in values { library.api.releaseValue(v) }
    }

    /// Runs with the bound tensors; results are in `outputs`.
    public func run() throws(ORTError) {
        try library.api.check(library.api.runWithBinding(session.handle, nil, handle), "running \(session.source) with bound I/O")
    }

    /// ORT's CPU provider reads and writes host memory.
    public var device: Device { session.device }

    public func write(input name: String, from tensor: Tensor) throws(ORTError) {
        // Only the type and shape: holding the bound tensor itself would make its storage shared,
        // and the write below would go to a copy instead of the memory ORT reads.
        guard let (dtype, shape) = inputs[name].map({ ($0.dtype, $0.shape) }) else {
            throw ORTError(code: .badInput, message: "no bound input '\(name)' (bound: \(inputs.keys.sorted().joined(separator: ", ")))", operation: "writing a bound input")
        }
        guard dtype == tensor.dtype, shape == tensor.shape else {
            throw ORTError(code: .badInput, message: "input '\(name)' is bound as \(dtype) \(shape); got \(tensor.dtype) \(tensor.shape)", operation: "writing a bound input")
        }
        tensor.withUnsafeBytes { source in
            inputs[name]!.withUnsafeMutableBytes { $0.copyMemory(from: source) }
        }
    }

    /// A copy of the output as the last run left it (the bound storage is rewritten by each run).
    public func read(output name: String) throws(ORTError) -> Tensor {
        guard var copy = outputs[name] else {
            throw ORTError(code: .badInput, message: "no bound output '\(name)' (bound: \(outputs.keys.sorted().joined(separator: ", ")))", operation: "reading a bound output")
        }
        copy.withUnsafeMutableBytes { _ in }  // shared with the binding: this makes it the caller's own
        return copy
    }

    private func bind(_ name: String, _ tensor: Tensor, asOutput: Bool) throws(ORTError) {
        let api = library.api
        let shape = tensor.shape.dimensions.map(Int64.init)
        var value: ORTHandle?
        let status = tensor.withUnsafeBytes { raw in
            shape.withUnsafeBufferPointer { dims in
                api.createTensorWithDataAsOrtValue(library.cpuMemoryInfo, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, dims.baseAddress, dims.count, tensor.dtype.rawValue, &value)
            }
        }
        try api.check(status, "binding '\(name)'")
        values.append(value!)
        try api.check((asOutput ? api.bindOutput : api.bindInput)(handle, name, value), "binding '\(name)'")
    }

    private func bindOutput(_ name: String) throws(ORTError) {
        // Make the output's storage uniquely ours before ORT starts writing into it.
        outputs[name]!.withUnsafeMutableBytes { _ in }
        try bind(name, outputs[name]!, asOutput: true)
    }
}
