import FoundationEssentials
import Inference
import Tensors

/// A model loaded into ONNX Runtime. Owns its ORT session; inputs are passed to ORT without a copy
/// (ORT reads our tensors' buffers), outputs are copied once into our tensors.
public final class ORTSession: Session, @unchecked Sendable {
    let library: ORTLibrary
    let handle: ORTHandle
    public let inputs: [TensorDescription]
    public let outputs: [TensorDescription]
    /// ONNX value type of each input (ONNXValueType), to tell optional inputs that may be left out.
    let inputKinds: [Int32]
    /// For sequence inputs, the element type (to make an empty sequence of it).
    let inputSequenceElementTypes: [Int32?]
    /// Which model, for errors ("model.onnx" or "<bytes>").
    public let source: String
    /// ORT's CPU provider, or the first provider the options name (CUDA through onnxruntime-gpu).
    public let device: Device

    /// Loads the model file at `path`.
    public convenience init(contentsOf path: String, options: ORTOptions = ORTOptions()) throws(ORTError) {
        let library = try ORTLibrary.load(explicitPath: options.libraryPath)
        let sessionOptions = try SessionOptionsHandle(library: library, options: options, model: path)
        var session: ORTHandle?
        try library.api.check(library.api.createSession(library.env, path, sessionOptions.handle, &session), "creating a session from \(path)")
        try self.init(library: library, handle: session!, source: path, device: Self.device(options))
    }

    /// Loads a model from its serialized bytes (e.g. a model HalfPipe just rewrote in memory).
    public convenience init(serialized model: Data, options: ORTOptions = ORTOptions(), name: String = "<model bytes>") throws(ORTError) {
        let library = try ORTLibrary.load(explicitPath: options.libraryPath)
        let sessionOptions = try SessionOptionsHandle(library: library, options: options, model: name)
        var session: ORTHandle?
        let status = model.withUnsafeBytes { raw in
            library.api.createSessionFromArray(library.env, raw.baseAddress, raw.count, sessionOptions.handle, &session)
        }
        try library.api.check(status, "creating a session from \(name)")
        try self.init(library: library, handle: session!, source: name, device: Self.device(options))
    }

    private init(library: ORTLibrary, handle: ORTHandle, source: String, device: Device) throws(ORTError) {
        self.library = library
        self.handle = handle
        self.source = source
        self.device = device
        library.liveSessions.add(1, ordering: .releasing)
        do {
            let described = try Self.describe(library, handle, input: true)
            inputs = described.map(\.0)
            inputKinds = described.map(\.1)
            inputSequenceElementTypes = described.map(\.2)
            outputs = try Self.describe(library, handle, input: false).map(\.0)
        } catch {
            library.api.releaseSession(handle)
            library.liveSessions.subtract(1, ordering: .releasing)
            throw error
        }
    }

    deinit {
        library.api.releaseSession(handle)
        library.liveSessions.subtract(1, ordering: .releasing)
    }

    /// Runs the model. Every input must be given with its declared element type and a shape that
    /// fits the declared one; outputs come back by name (all of them, or those in `outputNames`).
    /// `run`, also reporting the time of each stage (returned, so concurrent runs stay independent).
    public func runMeasured(_ feeds: [String: Tensor], outputNames: [String]? = nil) throws(ORTError) -> (outputs: [String: Tensor], timings: RunTimings) {
        try execute(feeds.mapValues { .tensor($0) }, outputNames: outputNames) { (value, name) throws(ORTError) in
            try ORTValues.tensor(from: value, library: library, name: name)
        }
    }

    /// Runs a model whose inputs or outputs include sequences or optionals. An input declared
    /// optional may be left out or given as `.optional(nil)` (ONNX's None); outputs come back as
    /// tensors, sequences, or `.optional(nil)` for an empty optional.
    public func run(values feeds: [String: SessionValue], outputNames: [String]? = nil) throws(ORTError) -> [String: SessionValue] {
        try execute(feeds, outputNames: outputNames) { (value, name) throws(ORTError) in
            try ORTValues.value(from: value, library: library, name: name)
        }.outputs
    }

    private func execute<Output>(
        _ feeds: [String: SessionValue], outputNames: [String]?,
        convert: (ORTHandle, String) throws(ORTError) -> Output
    ) throws(ORTError) -> (outputs: [String: Output], timings: RunTimings) {
        let clock = ContinuousClock()
        let start = clock.now
        var inferenceStart = start, inferenceEnd = start
        try checkFeeds(feeds)
        let wanted = outputNames ?? outputs.map(\.name)
        for name in wanted where !outputs.contains(where: { $0.name == name }) {
            throw ORTError(code: .badInput, message: "the model has no output '\(name)' (outputs: \(outputs.map(\.name).joined(separator: ", ")))", operation: "running \(source)")
        }
        let ordered = inputs.compactMap { d in feeds[d.name].map { (d.name, $0) } }
        let values = ORTValueList(library)
        defer { values.releaseAll() }
        var results: [ORTHandle?] = Array(repeating: nil, count: wanted.count)
        defer { for r in results { if let r { library.api.releaseValue(r) } } }
        let elementTypes = ordered.map { name, _ in inputs.firstIndex { $0.name == name }.flatMap { inputSequenceElementTypes[$0] } }
        try ORTValues.withInputValues(ordered.map(\.1), sequenceElementTypes: elementTypes, library: library, into: values) { (made) throws(ORTError) in
            // An empty optional is not fed at all: ORT takes a missing optional input as None.
            let present = zip(ordered.map(\.0), made).filter { $0.1 != nil }
            let inputValues = present.map(\.1)
            try CStrings.with(present.map(\.0)) { (inputNames) throws(ORTError) in
                try CStrings.with(wanted) { (outputNamePointers) throws(ORTError) in
                    inferenceStart = clock.now
                    let status = inputValues.withUnsafeBufferPointer { inputBuffer in
                        results.withUnsafeMutableBufferPointer { outputBuffer in
                            library.api.run(handle, nil, inputNames, inputBuffer.baseAddress, present.count, outputNamePointers, wanted.count, outputBuffer.baseAddress)
                        }
                    }
                    inferenceEnd = clock.now
                    try library.api.check(status, "running \(source)")
                }
            }
        }
        var out: [String: Output] = [:]
        for (name, value) in zip(wanted, results) {
            out[name] = try convert(value!, name)
        }
        let timings = RunTimings(inputsMs: (inferenceStart - start).milliseconds, inferenceMs: (inferenceEnd - inferenceStart).milliseconds,
                                 outputsMs: (clock.now - inferenceEnd).milliseconds)
        return (out, timings)
    }

    /// Binds inputs and pre-allocated outputs for repeated runs (ORT's I/O binding, on the host).
    public func bind(inputs: [String: Tensor], outputShapes: [String: Shape]) throws(ORTError) -> any BoundRun {
        try ORTIOBinding(session: self, inputs: inputs, outputShapes: outputShapes)
    }

    /// The device the first execution provider computes on.
    static func device(_ options: ORTOptions) -> Device {
        switch options.executionProviders.first {
        case .cuda(let n, _)?, .tensorRT(let n, _)?: .cuda(n)
        default: .cpu
        }
    }

    /// Rejects missing, unknown and mistyped inputs with a message naming them, before ORT does.
    func checkFeeds(_ feeds: [String: Tensor]) throws(ORTError) { try checkFeeds(feeds.mapValues { .tensor($0) }) }

    func checkFeeds(_ feeds: [String: SessionValue]) throws(ORTError) {
        let operation = "running \(source)"
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw ORTError(code: .badInput, message: "the model has no input '\(name)' (inputs: \(inputs.map(\.description).joined(separator: "; ")))", operation: operation)
        }
        for (input, kind) in zip(inputs, inputKinds) {
            guard let value = feeds[input.name] else {
                if kind == ONNXValueType.optional { continue }
                throw ORTError(code: .badInput, message: "input '\(input.name)' is missing; the model wants \(input)", operation: operation)
            }
            guard kind == ONNXValueType.tensor else { continue }  // ORT checks sequences and optionals
            guard case .tensor(let tensor) = value else {
                throw ORTError(code: .badInput, message: "input '\(input.name)' is a tensor input; give it a tensor (the model wants \(input))", operation: operation)
            }
            if let expected = input.elementType, expected != tensor.dtype {
                throw ORTError(code: .badInput, message: "input '\(input.name)' is \(tensor.dtype) but the model wants \(input)", operation: operation)
            }
            let dims = tensor.shape.dimensions
            let fits = dims.count == input.dimensions.count && zip(dims, input.dimensions).allSatisfy { $1 == nil || $0 == $1 }
            if input.elementType != nil && !fits {
                throw ORTError(code: .badInput, message: "input '\(input.name)' has shape \(tensor.shape) but the model wants \(input)", operation: operation)
            }
        }
    }

    /// Each input's or output's description, ONNX value type (tensor, sequence, optional, …) and,
    /// for a sequence of tensors, the element type.
    private static func describe(_ library: ORTLibrary, _ session: ORTHandle, input: Bool) throws(ORTError) -> [(TensorDescription, Int32, Int32?)] {
        let api = library.api
        var count = 0
        try api.check((input ? api.sessionGetInputCount : api.sessionGetOutputCount)(session, &count), "reading the model's \(input ? "inputs" : "outputs")")
        var result: [(TensorDescription, Int32, Int32?)] = []
        for i in 0..<count {
            var namePointer: UnsafeMutablePointer<CChar>?
            try api.check((input ? api.sessionGetInputName : api.sessionGetOutputName)(session, i, library.allocator, &namePointer), "reading a name")
            let name = String(cString: namePointer!)
            _ = api.allocatorFree(library.allocator, namePointer)
            var typeInfo: ORTHandle?
            try api.check((input ? api.sessionGetInputTypeInfo : api.sessionGetOutputTypeInfo)(session, i, &typeInfo), "reading the type of '\(name)'")
            defer { api.releaseTypeInfo(typeInfo) }
            var kind: Int32 = 0
            try api.check(api.getOnnxTypeFromTypeInfo(typeInfo, &kind), "reading the type of '\(name)'")
            let sequenceElement = kind == ONNXValueType.sequence ? try sequenceElementType(typeInfo!, api: api, name: name) : nil
            var tensorInfo: ORTHandle?
            try api.check(api.castTypeInfoToTensorInfo(typeInfo, &tensorInfo), "reading the type of '\(name)'")
            guard let tensorInfo else {
                result.append((TensorDescription(name: name, elementType: nil, dimensions: [], symbols: []), kind, sequenceElement))
                continue
            }
            let (dtype, dims, symbols) = try ORTValues.typeAndShape(tensorInfo, api: api, name: name)
            result.append((TensorDescription(name: name, elementType: dtype, dimensions: dims.map { $0 < 0 ? nil : Int($0) }, symbols: symbols), kind, sequenceElement))
        }
        return result
    }

    /// The tensor element type of a sequence's elements (nil for sequences of maps).
    private static func sequenceElementType(_ typeInfo: ORTHandle, api: ORTAPI, name: String) throws(ORTError) -> Int32? {
        var sequenceInfo: ORTHandle?
        try api.check(api.castTypeInfoToSequenceTypeInfo(typeInfo, &sequenceInfo), "reading the sequence type of '\(name)'")
        var element: ORTHandle?
        try api.check(api.getSequenceElementType(sequenceInfo, &element), "reading the sequence type of '\(name)'")
        defer { api.releaseTypeInfo(element) }
        var tensorInfo: ORTHandle?
        try api.check(api.castTypeInfoToTensorInfo(element, &tensorInfo), "reading the sequence type of '\(name)'")
        guard let tensorInfo else { return nil }
        var type: Int32 = 0
        try api.check(api.getTensorElementType(tensorInfo, &type), "reading the sequence type of '\(name)'")
        return type
    }
}

/// Owns an OrtSessionOptions while a session is created.
private final class SessionOptionsHandle {
    let handle: ORTHandle
    let library: ORTLibrary

    init(library: ORTLibrary, options: ORTOptions, model: String) throws(ORTError) {
        self.library = library
        let api = library.api
        var h: ORTHandle?
        try api.check(api.createSessionOptions(&h), "creating session options")
        handle = h!
        try api.check(api.setGraphOptimizationLevel(handle, options.optimizationLevel.code), "setting the optimization level")
        try api.check(api.setIntraOpNumThreads(handle, Int32(options.intraOpThreads)), "setting the thread count")
        if let path = options.optimizedModelPath {
            try api.check(api.setOptimizedModelFilePath(handle, path), "setting the optimized model path")
        }
        for provider in options.executionProviders {
            try ExecutionProviders.append(provider, to: handle, library: library)
        }
    }

    deinit { library.api.releaseSessionOptions(handle) }
}
