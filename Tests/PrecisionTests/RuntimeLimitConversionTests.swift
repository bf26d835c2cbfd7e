import Foundation
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// `halfpipe convert` end to end on the models ONNX Runtime refuses in float16/bfloat16 where it
/// runs float32 (see Tests/ONNXRuntimeTests/KernelLimitTests.swift): the converted file must load
/// and run in ORT, with the refused nodes kept float32 and the report saying why. Default options,
/// no feeds: what a user gets from `halfpipe convert model.onnx --to fp16`.
@Suite struct RuntimeLimitConversionTests {
    struct Converted {
        var report: ConversionReport
        var path: String
        /// Largest relative L2 error of an output against the float32 model on the same random inputs.
        var error: Double
    }

    /// Writes `model`, converts it with `ConversionJob` for ORT, loads and runs the result on random
    /// inputs (a refusal fails the test here) and compares it with the float32 model.
    static func convertAndRun(_ model: Model, to target: DType = .float16, respectingLimits: Bool = true,
                              in dir: URL) throws -> Converted {
        let input = dir.appendingPathComponent("model.onnx").path, output = dir.appendingPathComponent("converted.onnx").path
        try model.save(to: input)
        var job = ConversionJob(options: ConversionOptions(target: target), runtime: ExecutionTarget(backend: ORTBackend()))
        job.respectsBackendLimits = respectingLimits
        let outcome = try job.run(input: input, output: output)
        let reference = try ORTSession(contentsOf: input), candidate = try ORTSession(contentsOf: output)
        var generator = SeededGenerator(seed: 5)
        var feed: [String: Tensor] = [:]
        for d in reference.inputs {
            feed[d.name] = try Tensor.random(dtype: try #require(d.elementType), shape: try Shape(d.dimensions.map { $0 ?? 1 }), generator: &generator)
        }
        let expected = try reference.run(feed), got = try candidate.run(feed)
        var error = 0.0
        for (name, want) in expected {
            error = max(error, try relativeL2(try #require(got[name]).converted(to: .float32), want))
        }
        return Converted(report: outcome.report, path: output, error: error)
    }

    static func relativeL2(_ a: Tensor, _ b: Tensor) throws -> Double {
        var num = 0.0, den = 0.0
        for (p, q) in zip(try a.floatValues(), try b.floatValues()) { num += Double(p - q) * Double(p - q); den += Double(q) * Double(q) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    static func kept(_ report: ConversionReport, _ opType: String) -> [ConversionReport.KeptNode] {
        report.keptNodes.filter { $0.opType == opType }
    }

    /// Constant scales: `supports` refuses the node before converting; no run is needed.
    @Test func nhwcCubicResizeWithConstantScalesStaysFloat32() throws {
        let dir = try TestMaterial.temporaryDirectory("limit-resize-scales")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Self.convertAndRun(try LimitModels.transposedResize(.float32, input: .constantScales), in: dir)
        let resize = Self.kept(r.report, "Resize")
        #expect(resize.count == 1 && resize[0].reason.hasPrefix("onnxruntime: ") && resize[0].reason.contains("cubic Resize"), "\(r.report.keptNodes)")
        #expect(r.report.convertedByOpType["Transpose"] == 2, "\(r.report.convertedByOpType)")
        #expect(r.error < 1e-2, "relative L2 \(r.error)")
    }

    /// Constant sizes: only a run shows the refusal. The job runs the converted model once on
    /// random inputs, reads the node from ORT's message and sends it back to float32. Unnamed
    /// nodes (`Name:''`) are found by op type among the nodes `supports` left to the run.
    @Test(arguments: [true, false])
    func nhwcCubicResizeWithSizesIsSettledByOneRun(named: Bool) throws {
        let dir = try TestMaterial.temporaryDirectory("limit-resize-sizes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Self.convertAndRun(try LimitModels.transposedResize(.float32, input: .constantSizes, names: named), in: dir)
        let resize = Self.kept(r.report, "Resize")
        #expect(resize.count == 1 && resize[0].reason.contains("onnxruntime refused it in float16"), "\(r.report.keptNodes)")
        let warning = named ? "Resize 'resize' kept in float32" : "1 Resize node(s) kept in float32"
        #expect(r.report.warnings.contains { $0.hasPrefix(warning) && $0.contains("'Cubic' mode only supports") }, "\(r.report.warnings)")
        // Only the Resize: the op type as a whole is not blocked, the Transposes convert.
        #expect(r.report.convertedByOpType["Transpose"] == 2, "\(r.report.convertedByOpType)")
        #expect(r.error < 1e-2, "relative L2 \(r.error)")
    }

    /// A ViT's interpolation: cubic Resize of a transposed tensor to sizes computed in the graph
    /// (Shape → Gather → Concat), the batch symbolic, converted with no inputs at all. Neither the
    /// rule table nor a load sees the refusal; the default run check (random inputs at batch 1)
    /// does, and the written model runs where the float32 model runs.
    @Test func computedSizesCubicResizeRunsAfterTheDefaultRunCheck() throws {
        let dir = try TestMaterial.temporaryDirectory("limit-resize-computed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LimitModels.transposedResize(.float32, input: .computedSizes)
        let r = try Self.convertAndRun(model, in: dir)
        let resize = Self.kept(r.report, "Resize")
        #expect(resize.count == 1 && resize[0].reason.contains("onnxruntime refused it in float16"), "\(r.report.keptNodes)")
        #expect(r.report.runCheck?.hasPrefix("ran once in onnxruntime on random inputs (x [1, 3, 8, 8])") == true, "\(String(describing: r.report.runCheck))")
        #expect(r.error < 1e-2, "relative L2 \(r.error)")
        // Without the run check the same conversion writes a model ORT refuses on its first run.
        let input = dir.appendingPathComponent("model.onnx").path, unchecked = dir.appendingPathComponent("unchecked.onnx").path
        var job = ConversionJob(options: ConversionOptions(target: .float16), runtime: ExecutionTarget(backend: ORTBackend()))
        job.runCheck = false
        _ = try job.run(input: input, output: unchecked)
        let session = try ORTSession(contentsOf: unchecked)
        #expect(throws: ORTError.self) { try session.run(["x": try Tensor(dtype: .float32, shape: [2, 3, 8, 8])]) }
    }

    /// `--to mixed` on the ViT interpolation, with ranges measured on the given inputs: no
    /// candidate run meets the float16 cubic Resize ONNX Runtime refuses (issue 29: it exited 2),
    /// and the result runs at another batch size.
    @Test(arguments: [false, true])
    func mixedPrecisionOfTheViTInterpolationRuns(measuresRanges: Bool) throws {
        let dir = try TestMaterial.temporaryDirectory("limit-resize-mixed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("model.onnx").path, output = dir.appendingPathComponent("mixed.onnx").path
        try LimitModels.transposedResize(.float32, input: .computedSizes).save(to: input)
        var generator = SeededGenerator(seed: 4)
        let feed = ["x": try Tensor.random(dtype: .float32, shape: [1, 3, 8, 8], generator: &generator)]
        var job = ConversionJob(options: ConversionOptions(target: .float16), runtime: ExecutionTarget(backend: ORTBackend()))
        job.mixed = (maxRelativeL2: 1e-2, elementwise: nil)
        job.feeds = ConversionJob.Feeds(source: "a random batch", measuresRanges: measuresRanges, batches: { _ in [feed] })
        let report = try job.run(input: input, output: output).report
        #expect(report.keptNodes.contains { $0.opType == "Resize" }, "\(report.keptNodes)")
        _ = try ORTSession(contentsOf: output).run(["x": try Tensor(dtype: .float32, shape: [2, 3, 8, 8])])
    }

    /// A float16 ScatterElements with reduction add is refused at run time, for any data: the rule
    /// keeps it float32 up front, while the Relu after it converts.
    @Test func scatterElementsAddStaysFloat32() throws {
        let dir = try TestMaterial.temporaryDirectory("limit-scatter")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LimitModels.scatterElements(.float32, reduction: "add", opset: 18)
        model.graph.nodes[0].outputs = ["scattered"]
        model.graph.nodes.append(Node(opType: "Relu", name: "relu", inputs: ["scattered"], outputs: ["y"]))
        let r = try Self.convertAndRun(model, in: dir)
        let scatter = Self.kept(r.report, "ScatterElements")
        #expect(scatter.count == 1 && scatter[0].reason.contains("reduction 'add'"), "\(r.report.keptNodes)")
        #expect(r.report.convertedByOpType["Relu"] == 1, "\(r.report.convertedByOpType)")
        #expect(r.error < 1e-2, "relative L2 \(r.error)")
    }

    static func convRelu() throws -> Model {
        let nodes = [Node(opType: "Conv", name: "conv", inputs: ["x", "w", "b"], outputs: ["c"], attributes: [LimitModels.attribute("pads", ints: [1, 1, 1, 1])]),
                     Node(opType: "Relu", name: "relu", inputs: ["c"], outputs: ["y"])]
        return ModelBuilder.model(opset: 22, nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 3, 8, 8])],
                                  outputs: [ModelBuilder.tensor("y", .float32, [1, 4, 8, 8])],
                                  initializers: [try LimitModels.floats("w", (0..<108).map { Float($0 % 7) / 7 - 0.4 }, [4, 3, 3, 3]),
                                                 try LimitModels.floats("b", [0.1, -0.2, 0.3, 0], [4])])
    }

    /// ORT's CPU provider has no bfloat16 Conv or Relu: for ORT they stay float32 and the file runs.
    @Test func bfloat16ConvReluRunsInORT() throws {
        let dir = try TestMaterial.temporaryDirectory("limit-bf16")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Self.convertAndRun(try Self.convRelu(), to: .bfloat16, in: dir)
        #expect(Set(r.report.keptNodes.map(\.opType)) == ["Conv", "Relu"], "\(r.report.keptNodes)")
        #expect(r.report.keptNodes.allSatisfy { $0.reason.contains("no bfloat16 kernel") }, "\(r.report.keptNodes)")
        #expect(r.error < 1e-6, "relative L2 \(r.error)")
    }

    /// Converting for another runtime (`respectsBackendLimits = false`) does make the Conv
    /// bfloat16, and that is the model ORT's CPU provider refuses: the limit is why the default keeps it.
    @Test func bfloat16ConvForAnotherRuntimeIsBFloat16() throws {
        let dir = try TestMaterial.temporaryDirectory("limit-bf16-any")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("model.onnx").path, output = dir.appendingPathComponent("converted.onnx").path
        try Self.convRelu().save(to: input)
        var job = ConversionJob(options: ConversionOptions(target: .bfloat16), runtime: ExecutionTarget(backend: ORTBackend()))
        job.respectsBackendLimits = false
        let outcome = try job.run(input: input, output: output)
        #expect(outcome.report.keptNodes.isEmpty, "\(outcome.report.keptNodes)")
        let converted = try Model.load(contentsOf: output)
        let types = TypeInference(converted).types(in: converted.graph)
        #expect(types["c"] == .bfloat16 && types["w"] == .bfloat16, "c: \(String(describing: types["c"])), w: \(String(describing: types["w"]))")
        let error = try #require(throws: ORTError.self) { try ORTSession(contentsOf: output) }
        #expect(ORTBackend().refusal(in: error)?.opType == "Conv", "\(error.message)")
    }

    /// The common model has no op any rule is about: the backend is asked nothing (no type
    /// inference), nothing is kept, nothing waits on a run.
    @Test func modelsWithoutLimitedOpsCostNothing() throws {
        let nodes = [
            Node(opType: "Conv", inputs: ["x", "w"], outputs: ["c"], attributes: [LimitModels.attribute("pads", ints: [1, 1, 1, 1])]),
            Node(opType: "Relu", inputs: ["c"], outputs: ["r"]),
            Node(opType: "MatMul", inputs: ["r", "m"], outputs: ["mm"]),
            Node(opType: "Add", inputs: ["mm", "r"], outputs: ["y"]),
        ]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 3, 8, 8])],
                                       outputs: [ModelBuilder.tensor("y", .float32, [1, 3, 8, 8])],
                                       initializers: [try LimitModels.floats("w", Array(repeating: 0.1, count: 81), [3, 3, 3, 3]),
                                                      try LimitModels.floats("m", Array(repeating: 0.125, count: 64), [8, 8])])
        let support = BackendSupport(model: model, target: .float16, backend: ORTBackend())
        #expect(support.refused.isEmpty && support.decidedAtRun.isEmpty, "\(support)")
        // A Resize is asked about, and linear is fine: still nothing.
        let linear = try LimitModels.transposedResize(.float32, input: .constantSizes, mode: "linear")
        let resize = BackendSupport(model: linear, target: .float16, backend: ORTBackend())
        #expect(resize.refused.isEmpty && resize.decidedAtRun.isEmpty, "\(resize)")
        // In bfloat16, data movement alone has kernels.
        let moves = try LimitModels.single("Transpose", .float32)
        let bf16 = BackendSupport(model: moves, target: .bfloat16, backend: ORTBackend())
        #expect(bf16.refused.isEmpty && bf16.decidedAtRun.isEmpty, "\(bf16)")
    }
}
