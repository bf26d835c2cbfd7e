import Foundation
import Inference
import ONNX
import Tensors
import TestSupport
import Testing
@testable import ONNXRuntime

/// One rule of `ORTKernelLimits` as ONNX Runtime showed it: a model built in `type` that ORT
/// refuses (at load or at run) or runs, where the float32 model always runs.
struct KernelLimit: Sendable, CustomTestStringConvertible {
    enum Stage: String, Sendable { case load = "at load", run = "at run time", never = "never (runs)" }

    var rule: String
    var type: DType
    var refusedAt: Stage
    /// The node the rule is about (the one asked `supports` and named in the refusal).
    var node: String
    /// What `ORTBackend.refusal(in:)` must read from ORT's message: (node name, op type); nil
    /// where ORT names no node of ours (an inlined function body's inner node).
    var refusal: (name: String?, op: String)?
    var build: @Sendable (DType) throws -> Model
    /// Inputs that must not be random (computed scales).
    var fixedInputs: @Sendable () throws -> [String: Tensor] = { [:] }

    var testDescription: String { "\(rule) (\(type.name))" }
}

/// Re-measures each rule of `ORTKernelLimits` against the ONNX Runtime that is loaded: the naive
/// float16/bfloat16 model must be refused where the rule says (and the float32 one run), and what
/// the rule calls supported must run. When ORT is upgraded and a rule goes stale, the failing
/// case names the rule, so the table is fixed rather than the test.
@Suite struct KernelLimitTests {
    static let backend = ORTBackend()

    static var options: ORTOptions {
        var o = ORTOptions()
        o.intraOpThreads = 1
        return o
    }

    static let refused: [KernelLimit] = [
        KernelLimit(rule: "cubic NHWC downscale between Transposes, constant scales", type: .float16, refusedAt: .load, node: "resize",
                    refusal: (nil, "Resize")) { try LimitModels.transposedResize($0, input: .constantScales) },
        KernelLimit(rule: "cubic NHWC downscale between Transposes, constant sizes", type: .float16, refusedAt: .run, node: "resize",
                    refusal: ("resize", "Resize")) { try LimitModels.transposedResize($0, input: .constantSizes) },
        KernelLimit(rule: "cubic NHWC downscale between Transposes, scales as an input", type: .float16, refusedAt: .run, node: "resize",
                    refusal: ("resize", "Resize"), build: { try LimitModels.transposedResize($0, input: .scalesInput) },
                    fixedInputs: { ["scales": try Tensor(shape: [4], elements: [Float(1), 0.5, 0.5, 1])] }),
        KernelLimit(rule: "ScatterElements reduction add", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterElements")) { try LimitModels.scatterElements($0, reduction: "add", opset: 16) },
        KernelLimit(rule: "ScatterElements reduction mul", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterElements")) { try LimitModels.scatterElements($0, reduction: "mul", opset: 18) },
        KernelLimit(rule: "ScatterND reduction add", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterND")) { try LimitModels.scatterND($0, reduction: "add", opset: 16) },
        KernelLimit(rule: "ScatterND reduction mul", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterND")) { try LimitModels.scatterND($0, reduction: "mul", opset: 16) },
        KernelLimit(rule: "ScatterND reduction max", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterND")) { try LimitModels.scatterND($0, reduction: "max", opset: 18) },
        KernelLimit(rule: "ScatterND reduction min", type: .float16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterND")) { try LimitModels.scatterND($0, reduction: "min", opset: 18) },
        KernelLimit(rule: "EyeLike(22) dtype from an int64 input", type: .float16, refusedAt: .load, node: "eye",
                    refusal: ("eye", "EyeLike")) { LimitModels.eyeLikeFromInt64($0) },
        KernelLimit(rule: "RandomNormal(1) dtype", type: .float16, refusedAt: .load, node: "rn",
                    refusal: ("rn", "RandomNormal")) { LimitModels.randomNormal($0) },
        KernelLimit(rule: "RandomUniform(1) dtype", type: .float16, refusedAt: .load, node: "ru",
                    refusal: ("ru", "RandomUniform")) { LimitModels.randomNormal($0, op: "RandomUniform", name: "ru") },
        KernelLimit(rule: "MeanVarianceNormalization's function body", type: .float16, refusedAt: .load, node: "mvn",
                    refusal: nil) { LimitModels.meanVarianceNormalization($0) },
        KernelLimit(rule: "ScatterElements reduction max", type: .bfloat16, refusedAt: .run, node: "scatter",
                    refusal: ("scatter", "ScatterElements")) { try LimitModels.scatterElements($0, reduction: "max", opset: 18) },
        KernelLimit(rule: "EyeLike(22) dtype from an int64 input", type: .bfloat16, refusedAt: .load, node: "eye",
                    refusal: ("eye", "EyeLike")) { LimitModels.eyeLikeFromInt64($0) },
        KernelLimit(rule: "MeanVarianceNormalization's function body", type: .bfloat16, refusedAt: .load, node: "mvn",
                    refusal: nil) { LimitModels.meanVarianceNormalization($0) },
    ] + ["Conv", "Relu", "Add", "Mul", "MatMul", "Sigmoid", "Resize"].map { op in
        KernelLimit(rule: "no bfloat16 kernel for \(op)", type: .bfloat16, refusedAt: .load, node: "node",
                    refusal: ("node", op)) { try LimitModels.single(op, $0) }
    }

    /// What the rules call supported, next to what they refuse: a rule that grows too wide costs
    /// speed, one that grows too narrow hands out a model ORT refuses.
    static let supported: [KernelLimit] = [
        KernelLimit(rule: "cubic NCHW downscale [1, 1, s, s]", type: .float16, refusedAt: .never, node: "resize",
                    refusal: nil) { try LimitModels.nchwResize($0) },
        KernelLimit(rule: "cubic NHWC upscale between Transposes", type: .float16, refusedAt: .never, node: "resize",
                    refusal: nil) { try LimitModels.transposedResize($0, input: .constantScales, scale: 2) },
        KernelLimit(rule: "linear NHWC downscale between Transposes", type: .float16, refusedAt: .never, node: "resize",
                    refusal: nil) { try LimitModels.transposedResize($0, input: .constantScales, mode: "linear") },
        KernelLimit(rule: "nearest NHWC downscale between Transposes, sizes", type: .float16, refusedAt: .never, node: "resize",
                    refusal: nil) { try LimitModels.transposedResize($0, input: .constantSizes, mode: "nearest") },
        KernelLimit(rule: "ScatterElements reduction max", type: .float16, refusedAt: .never, node: "scatter",
                    refusal: nil) { try LimitModels.scatterElements($0, reduction: "max", opset: 18) },
        KernelLimit(rule: "ScatterND without reduction", type: .float16, refusedAt: .never, node: "scatter",
                    refusal: nil) { try LimitModels.scatterND($0, reduction: "none", opset: 18) },
        KernelLimit(rule: "EyeLike(22) of a float16 input", type: .float16, refusedAt: .never, node: "eye",
                    refusal: nil) { LimitModels.eyeLikeSameType($0) },
        KernelLimit(rule: "ScatterElements without reduction", type: .bfloat16, refusedAt: .never, node: "scatter",
                    refusal: nil) { try LimitModels.scatterElements($0, reduction: "none", opset: 18) },
        KernelLimit(rule: "ScatterND without reduction", type: .bfloat16, refusedAt: .never, node: "scatter",
                    refusal: nil) { try LimitModels.scatterND($0, reduction: "none", opset: 18) },
    ] + ["Identity", "Transpose", "Flatten", "Reshape", "Unsqueeze", "Squeeze", "Concat", "Slice", "Gather", "Split", "Cast", "Shape"].map { op in
        KernelLimit(rule: "bfloat16 kernel for \(op)", type: .bfloat16, refusedAt: .never, node: "node", refusal: nil) { try LimitModels.single(op, $0) }
    }

    @Test(arguments: refused)
    func ortStillRefusesWhatTheRuleRefuses(_ limit: KernelLimit) throws {
        let (stage, error) = try Self.attempt(limit, in: limit.type)
        let version = (try? ORTLibrary.load().version) ?? "?"
        #expect(stage == limit.refusedAt,
                "ORTKernelLimits rule '\(limit.testDescription)' is stale: ONNX Runtime \(version) refuses it \(stage.rawValue), the rule says \(limit.refusedAt.rawValue). \(error.map { "\($0)" } ?? "")")
        guard stage == limit.refusedAt, let error else { return }
        if let expected = limit.refusal {
            let read = Self.backend.refusal(in: error)
            #expect(read?.nodeName == expected.name && read?.opType == expected.op, "read \(String(describing: read)) from: \(error.message)")
        }
        // The backend must say so before converting, or the conversion job cannot keep the node
        // float32 (a load refusal with no node name cannot be traced back by the probe).
        let model = try limit.build(limit.type)
        let node = try #require(model.graph.nodes.first { $0.name == limit.node })
        #expect(Self.backend.mayRefuse(node, computing: limit.type), "mayRefuse skips \(node.opType)")
        let answer = Self.backend.supports(node, try Self.context(node, in: model))
        if limit.refusedAt == .load {
            #expect({ if case .unsupported = answer { true } else { false } }(), "supports said \(answer)")
        } else {
            #expect(answer != .supported, "supports said \(answer)")
        }
    }

    @Test(arguments: supported)
    func ortStillRunsWhatTheRuleSupports(_ limit: KernelLimit) throws {
        let (stage, error) = try Self.attempt(limit, in: limit.type)
        #expect(stage == .never, "'\(limit.testDescription)' is supported by ORTKernelLimits but ONNX Runtime refuses it \(stage.rawValue): \(error.map { "\($0)" } ?? "")")
        let model = try limit.build(limit.type)
        let node = try #require(model.graph.nodes.first { $0.name == limit.node })
        #expect(Self.backend.supports(node, try Self.context(node, in: model)) == .supported)
    }

    /// The refusals must be real: each float32 model runs (else the test proves nothing).
    @Test(arguments: refused + supported)
    func float32RunsEveryLimitModel(_ limit: KernelLimit) throws {
        let (stage, error) = try Self.attempt(limit, in: .float32)
        #expect(stage == .never, "the float32 model of '\(limit.testDescription)' fails \(stage.rawValue): \(error.map { "\($0)" } ?? "")")
    }

    // MARK: Helpers

    /// Where ORT refuses the model built in `type`: at load, at the first run, or never.
    static func attempt(_ limit: KernelLimit, in type: DType) throws -> (KernelLimit.Stage, ORTError?) {
        let bytes = try limit.build(type).serialized()
        let session: ORTSession
        do { session = try ORTSession(serialized: bytes, options: options, name: limit.rule) } catch { return (.load, error) }
        var generator = SeededGenerator(seed: 3)
        var feed = try limit.fixedInputs()
        for input in session.inputs where feed[input.name] == nil {
            let shape = try Shape(input.dimensions.map { $0 ?? 1 })
            feed[input.name] = try Tensor.random(dtype: try #require(input.elementType), shape: shape, generator: &generator)
        }
        do { _ = try session.run(feed) } catch let error as ORTError { return (.run, error) }
        return (.never, nil)
    }

    /// What `BackendSupport` tells the backend about `node`: types, constant inputs and the
    /// declared shapes of graph inputs.
    static func context(_ node: Node, in model: Model) throws -> NodeContext {
        let types = TypeInference(model).types(in: model.graph)
        let weights = Dictionary(model.graph.initializers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var constants: [Int: Tensor] = [:]
        var shapes: [Int: [Int?]] = [:]
        for (slot, name) in node.inputs.enumerated() where !name.isEmpty {
            if let weight = weights[name] { constants[slot] = try weight.tensor() }
            if let dims = model.graph.inputs.first(where: { $0.name == name })?.shape {
                shapes[slot] = dims.map { if case .fixed(let n) = $0 { n } else { nil } }
            }
        }
        func type(_ name: String) -> DType? { name.isEmpty ? nil : types[name] }
        var producers: [Int: NodeContext.Producer] = [:]
        for (slot, name) in node.inputs.enumerated() where !name.isEmpty {
            if let p = model.graph.nodes.first(where: { $0.outputs.contains(name) }) {
                producers[slot] = NodeContext.Producer(opType: p.opType, perm: p[attribute: "perm"]?.ints)
            }
        }
        return NodeContext(opset: model.opsetVersion("") ?? 1, inputTypes: node.inputs.map(type), outputTypes: node.outputs.map(type),
                           constantInputs: constants, inputShapes: shapes, inputProducers: producers)
    }
}

/// `ORTBackend.refusal(in:)` on what ORT really says, so the conversion's probe can find the node.
@Suite struct RefusalReadingTests {
    let backend = ORTBackend()

    /// Run time: `… running Resize node. Name:'resize' Status Message: …`; unnamed nodes give `Name:''`.
    @Test(arguments: [true, false])
    func runTimeRefusalNamesTheNode(named: Bool) throws {
        let model = try LimitModels.transposedResize(.float16, input: .constantSizes, names: named)
        let session = try ORTSession(serialized: try model.serialized(), options: KernelLimitTests.options)
        var generator = SeededGenerator(seed: 11)
        let x = try Tensor.random(dtype: .float16, shape: [1, 3, 8, 8], generator: &generator)
        let error = try #require(throws: ORTError.self) { try session.run(["x": x]) }
        let refusal = try #require(backend.refusal(in: error), "\(error.message)")
        #expect(refusal == NodeRefusal(nodeName: named ? "resize" : "", opType: "Resize", message: refusal.message))
        #expect(refusal.message.hasPrefix("upsamplebase.h") && refusal.message.contains("'Cubic' mode only supports"), "\(refusal.message)")
    }

    /// Load: `Could not find an implementation for EyeLike(22) node with name 'eye'`.
    @Test func missingKernelNamesTheNode() throws {
        let bytes = try LimitModels.eyeLikeFromInt64(.float16).serialized()
        let error = try #require(throws: ORTError.self) { try ORTSession(serialized: bytes, options: KernelLimitTests.options) }
        #expect(error.message.contains("Could not find an implementation for EyeLike(22) node with name 'eye'"), "\(error.message)")
        let refusal = try #require(backend.refusal(in: error))
        #expect(refusal.nodeName == "eye" && refusal.opType == "EyeLike")
    }

    /// Load, kernel constructor: `Exception during initialization: … in the Resize operator`, no node name.
    @Test func kernelSetUpFailureNamesOnlyTheOp() throws {
        let bytes = try LimitModels.transposedResize(.float16, input: .constantScales).serialized()
        let error = try #require(throws: ORTError.self) { try ORTSession(serialized: bytes, options: KernelLimitTests.options) }
        #expect(error.message.contains("Exception during initialization"), "\(error.message)")
        let refusal = try #require(backend.refusal(in: error))
        #expect(refusal.opType == "Resize" && refusal.nodeName == nil, "\(refusal)")
    }

    /// The messages of the research table, verbatim (as ORT 1.31.1 wrote them).
    @Test func recordedMessagesAreRead() {
        let run = "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running ScatterElements node. Name:'s' "
            + "Status Message: CPU execution provider: MLFloat16 data type is not supported with ScatterElements opset 16 when reduction is 'add'."
        #expect(ORTBackend.refusal(in: run) == NodeRefusal(nodeName: "s", opType: "ScatterElements",
                                                           message: "CPU execution provider: MLFloat16 data type is not supported with ScatterElements opset 16 when reduction is 'add'."))
        let load = "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Add(14) node with name ''"
        #expect(ORTBackend.refusal(in: load).map { [$0.nodeName, $0.opType] } == ["", "Add"])
        let setUp = "[ONNXRuntimeError] : 1 : FAIL : Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/upsamplebase.h:314 "
            + "onnxruntime::UpsampleBase::UpsampleBase(const KernelInfoType&) [with KernelInfoType = onnxruntime::OpKernelInfo] [ONNXRuntimeError] : 1 : FAIL : "
            + "upsamplebase.h:579 ScalesValidation 'Cubic' mode only supports:\n  * 2-D inputs ('Bicubic') or\n  * 4-D inputs … \nin the Resize operator\n"
        #expect(ORTBackend.refusal(in: setUp).map { [$0.nodeName, $0.opType] } == [nil, "Resize"])
    }

    /// Failures that are no refusal of a node stay errors: the probe must not guess a node.
    @Test func otherFailuresAreNoRefusal() {
        #expect(backend.refusal(in: ORTError(code: .noSuchFile, message: "Load model from /x.onnx failed: File doesn't exist", operation: "loading")) == nil)
        #expect(backend.refusal(in: ORTError(code: .fail, message: "Type Error: Type parameter (T) of Optype (Add) bound to different types "
            + "(tensor(float16) and tensor(float) in node ().", operation: "loading")) == nil)
        #expect(backend.refusal(in: CocoaError(.fileNoSuchFile)) == nil)
    }
}

/// `supports` on the Resize patterns, from the node and context alone (no ORT needed).
@Suite struct ResizeSupportTests {
    let backend = ORTBackend()

    func resize(_ mode: String, antialias: Int? = nil, sizes: Bool = false) -> Node {
        var attributes = [LimitModels.attribute("mode", string: mode)]
        if let antialias { attributes.append(.int("antialias", antialias)) }
        return Node(opType: "Resize", name: "r", inputs: sizes ? ["x", "", "", "sizes"] : ["x", "", "scales"], outputs: ["y"], attributes: attributes)
    }

    /// The NHWC pattern: the Resize reads a Transpose(0,2,3,1) (`afterTranspose` false: a graph input).
    func context(_ type: DType, scales: [Float]? = nil, sizes: [Int64]? = nil, rank: Int? = nil, afterTranspose: Bool = true) throws -> NodeContext {
        var constants: [Int: Tensor] = [:]
        if let scales { constants[2] = try Tensor(shape: [4], elements: scales) }
        if let sizes { constants[3] = try Tensor(shape: [4], elements: sizes) }
        let inputs: [DType?] = sizes == nil ? [type, nil, .float32] : [type, nil, nil, .int64]
        return NodeContext(opset: 19, inputTypes: inputs, outputTypes: [type], constantInputs: constants,
                           inputShapes: rank.map { [0: Array(repeating: 8, count: $0)] } ?? [:],
                           inputProducers: afterTranspose ? [0: NodeContext.Producer(opType: "Transpose", perm: [0, 2, 3, 1])] : [:])
    }

    static func isUnsupported(_ s: NodeSupport) -> Bool { if case .unsupported = s { true } else { false } }
    static func isDecidedAtRun(_ s: NodeSupport) -> Bool { if case .decidedAtRun = s { true } else { false } }

    @Test(arguments: [Float(0.5), 0.25, 0.75])
    func constantNHWCCubicDownscaleIsUnsupported(scale: Float) throws {
        let answer = backend.supports(resize("cubic"), try context(.float16, scales: [1, scale, scale, 1]))
        #expect(Self.isUnsupported(answer), "\(answer)")
        // One NHWC axis down is enough for ORT's check to fail ([1, 1, s, 1] is NCHW, which it takes).
        #expect(Self.isUnsupported(backend.supports(resize("cubic"), try context(.float16, scales: [1, scale, 1, 1]))))
        #expect(backend.supports(resize("cubic"), try context(.float16, scales: [1, 1, scale, 1])) == .supported)
    }

    /// Without the Transpose to NHWC before it, float16 cubic Resize behaves as float32 does
    /// (whatever float32 refuses, float16 refuses too): nothing to keep.
    @Test func cubicWithoutTheTransposePatternIsSupported() throws {
        #expect(backend.supports(resize("cubic"), try context(.float16, scales: [1, 0.5, 0.5, 1], afterTranspose: false)) == .supported)
        #expect(backend.supports(resize("cubic", sizes: true), try context(.float16, sizes: [1, 4, 4, 3], afterTranspose: false)) == .supported)
        var other = try context(.float16, scales: [1, 0.5, 0.5, 1])
        other.inputProducers[0] = NodeContext.Producer(opType: "Transpose", perm: [0, 3, 1, 2])
        #expect(backend.supports(resize("cubic"), other) == .supported)
    }

    @Test(arguments: [Float(0.5), 0.25, 2])
    func nchwCubicIsSupported(scale: Float) throws {
        #expect(backend.supports(resize("cubic"), try context(.float16, scales: [1, 1, scale, scale])) == .supported)
    }

    /// ORT's cubic check lets NHWC through when nothing shrinks, or with antialias.
    @Test func nhwcCubicUpscaleAndAntialiasAreSupported() throws {
        #expect(backend.supports(resize("cubic"), try context(.float16, scales: [1, 2, 2, 1])) == .supported)
        #expect(backend.supports(resize("cubic", antialias: 1), try context(.float16, scales: [1, 0.5, 0.5, 1])) == .supported)
        #expect(Self.isUnsupported(backend.supports(resize("cubic", antialias: 0), try context(.float16, scales: [1, 0.5, 0.5, 1]))))
    }

    /// With `sizes` the scales exist only at run time: the conversion has to run the model once.
    @Test func cubicWithSizesIsDecidedAtRun() throws {
        let answer = backend.supports(resize("cubic", sizes: true), try context(.float16, sizes: [1, 4, 4, 3]))
        #expect(Self.isDecidedAtRun(answer), "\(answer)")
        #expect(Self.isDecidedAtRun(backend.supports(resize("cubic", sizes: true), try context(.float16, sizes: [1, 4, 4, 3], rank: 4))))
        // Only 4-D cubic is in question; other ranks fail in float32 too or run.
        #expect(backend.supports(resize("cubic", sizes: true), try context(.float16, rank: 2)) == .supported)
    }

    @Test(arguments: ["linear", "nearest"])
    func linearAndNearestAreSupported(mode: String) throws {
        #expect(backend.supports(resize(mode), try context(.float16, scales: [1, 0.5, 0.5, 1])) == .supported)
        #expect(backend.supports(resize(mode, sizes: true), try context(.float16, sizes: [1, 4, 4, 3])) == .supported)
        #expect(!backend.mayRefuse(resize(mode), computing: .float32))
        // Only cubic Resize is worth a context in float16: linear and nearest cost nothing.
        #expect(!backend.mayRefuse(resize(mode), computing: .float16))
        #expect(backend.mayRefuse(resize("cubic"), computing: .float16))
    }

    @Test func convIsUnsupportedInBFloat16Only() {
        let conv = Node(opType: "Conv", name: "c", inputs: ["x", "w"], outputs: ["y"])
        func context(_ t: DType) -> NodeContext { NodeContext(opset: 22, inputTypes: [t, t], outputTypes: [t]) }
        #expect(Self.isUnsupported(backend.supports(conv, context(.bfloat16))))
        #expect(backend.supports(conv, context(.float16)) == .supported)
        #expect(backend.supports(conv, context(.float32)) == .supported)
        // The cheap filter: nothing to ask for a float16 Conv, everything for bfloat16.
        #expect(!backend.mayRefuse(conv, computing: .float16))
        #expect(backend.mayRefuse(conv, computing: .bfloat16))
    }
}
