import Foundation
import Imaging
import Inference
import ONNX
import ONNXRuntime
import Precision
import Tensors
import TestSupport
import Testing

/// Opset upgrade and the QDQ rewrite, checked by running the results in ONNX Runtime.
@Suite(.serialized) struct QuantizationModelTests {
    static var target: ExecutionTarget {
        var options = SessionOptions()
        options.intraOpThreads = 1
        return ExecutionTarget(backend: ORTBackend(), options: options)
    }

    static func float(_ name: String, _ value: Float) -> Attribute {
        var p = Onnx_AttributeProto()
        p.name = name
        p.type = .float
        p.f = value
        return Attribute(proto: p)
    }

    /// Every operator the upgrade rewrites, in an opset-11 model, computes the same after it.
    @Test(arguments: [10, 11, 12])
    func opsetUpgradeKeepsEveryRewrittenOperatorsMeaning(opset: Int) throws {
        let x = ModelBuilder.tensor("x", .float32, [2, 3, 4])
        var nodes = [
            Node(opType: "Unsqueeze", inputs: ["x"], outputs: ["u"], attributes: [LimitModels.attribute("axes", ints: [0])]),
            Node(opType: "Squeeze", inputs: ["u"], outputs: ["s"], attributes: [LimitModels.attribute("axes", ints: [0])]),
            Node(opType: "ReduceSum", inputs: ["s"], outputs: ["r"], attributes: [LimitModels.attribute("axes", ints: [2]), .int("keepdims", 1)]),
            Node(opType: "Softmax", inputs: ["x"], outputs: ["soft"], attributes: [.int("axis", 1)]),
            Node(opType: "LogSoftmax", inputs: ["x"], outputs: ["logsoft"]),
            Node(opType: "Softmax", inputs: ["x"], outputs: ["last"], attributes: [.int("axis", -1)]),
        ]
        // Split's `split` attribute exists from opset 2; Dropout's ratio attribute until 11.
        nodes.append(Node(opType: "Split", inputs: ["x"], outputs: ["a", "b"], attributes: [.int("axis", 2), LimitModels.attribute("split", ints: [1, 3])]))
        if opset < 12 { nodes.append(Node(opType: "Dropout", inputs: ["x"], outputs: ["d"], attributes: [Self.float("ratio", 0.5)])) }
        let outputs = ["r", "soft", "logsoft", "last", "a", "b"] + (opset < 12 ? ["d"] : [])
        let model = ModelBuilder.model(opset: opset, nodes: nodes, inputs: [x], outputs: outputs.map { ValueInfo(name: $0, elementType: .float32, shape: nil) })
        let before = try model.serialized()
        let notes = try OpsetUpgrade.apply(to: model)
        #expect(model.opsetVersion("") == 13 || model.opsetVersion("ai.onnx") == 13)
        #expect(notes.first?.contains("opset \(opset) → 13") == true)
        #expect(Validator.validate(model).isEmpty, "\(Validator.validate(model))")
        var generator = SeededGenerator(seed: 5)
        let feed = ["x": try Tensor.random(dtype: .float32, shape: [2, 3, 4], generator: &generator)]
        let old = try Self.target.session(.bytes(before, name: "opset \(opset)")).run(feed)
        let new = try Self.target.session(.bytes(try model.serialized(), name: "opset 13")).run(feed)
        for name in outputs {
            let a = try #require(old[name]), b = try #require(new[name])
            #expect(a.shape == b.shape, "\(name)")
            let x = try a.elements(as: Float.self), y = try b.elements(as: Float.self)
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) }, "\(name) differs after the upgrade")
        }
    }

    /// The real angle classifier, quantized from real pictures with every layer in int8: a valid
    /// QDQ model ONNX Runtime loads, with int8 weights and int32 biases, and a TensorRT cache
    /// that reproduces the same model without calibrating.
    @Test func quantizesEveryLayerOfTheRealClassifierAndRoundTripsTheCache() throws {
        let model = try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let dir = try TestMaterial.temporaryDirectory("quantize")
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("cls-int8.onnx").path
        let cacheFile = dir.appendingPathComponent("cls.cache").path
        let feeds = try Self.pictureFeeds(count: 8)
        var remaining = feeds[...]
        // Symmetric ranges (what a TensorRT cache holds), every layer, no error limit: the
        // decisions cannot differ between calibrating and reading the cache.
        var options = QuantizationOptions()
        (options.everyLayer, options.symmetric, options.maxTensorError) = (true, true, .infinity)
        var job = QuantizationJob(options: options, runtime: Self.target,
                                  calibration: .data(.init(source: "pictures", measuresRanges: true) { _ in { remaining.popFirst() } }))
        job.writeCache = cacheFile
        job.accuracyGuard = false  // every layer, on purpose: the cache round trip is under test
        let report = try job.run(input: model, output: output).report
        #expect(report.batches == 8 && report.samples == 8)
        #expect(report.quantizedLayers == report.layers - 1, "\(report.summary().joined(separator: "\n"))")
        #expect(report.rewrite.weightsQuantized == report.quantizedLayers)
        #expect(report.notes.contains { $0.contains("opset 11 → 13") })
        #expect(report.decisions.contains { !$0.quantized && $0.reason?.hasPrefix("output layer") == true })

        let quantized = try Model.load(contentsOf: output)
        let ops = Dictionary(grouping: quantized.graph.nodes, by: \.opType).mapValues(\.count)
        #expect(ops["QuantizeLinear"] == report.rewrite.activationPairs)
        #expect((ops["DequantizeLinear"] ?? 0) == report.rewrite.activationPairs + report.rewrite.weightsQuantized + report.rewrite.biasesQuantized)
        #expect(quantized.graph.initializers.contains { $0.dtype == .int8 && $0.dims.count == 4 }, "int8 conv weights")
        #expect(quantized.graph.initializers.contains { $0.dtype == .int32 }, "int32 biases")
        #expect(Validator.validate(quantized).isEmpty)

        let cache = try CalibrationCache.read(contentsOf: cacheFile)
        #expect(cache.header == "TRT-8601-EntropyCalibration2" && cache.scales.count == report.tensorsCalibrated)
        let again = dir.appendingPathComponent("cls-int8-from-cache.onnx").path
        let second = try QuantizationJob(options: options, runtime: Self.target, calibration: .cache(cache, source: cacheFile, feeds: nil)).run(input: model, output: again)
        #expect(second.report.decisions == report.decisions)
        let b = try Self.target.session(.file(output)), c = try Self.target.session(.file(again))
        for feed in feeds {
            let y1 = try b.run(feed).values.first!, y2 = try c.run(feed).values.first!
            #expect(try TensorComparison(actual: y2, reference: y1).relativeL2 < 1e-3)
        }
    }

    /// With the defaults (int8 where it pays), the classifier keeps float32's class on every picture.
    @Test func defaultQuantizationKeepsTheClassifiersClasses() throws {
        let model = try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")
        let dir = try TestMaterial.temporaryDirectory("quantize-default")
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("cls-int8.onnx").path
        let feeds = try Self.pictureFeeds(count: 8)
        var remaining = feeds[...]
        let job = QuantizationJob(options: QuantizationOptions(), runtime: Self.target,
                                  calibration: .data(.init(source: "pictures", measuresRanges: true) { _ in { remaining.popFirst() } }))
        let report = try job.run(input: model, output: output).report
        #expect(report.quantizedLayers > 0 && report.activations == "asymmetric uint8")
        let a = try Self.target.session(.file(model)), b = try Self.target.session(.file(output))
        for feed in feeds {
            let x = try a.run(feed).values.first!.elements(as: Float.self), y = try b.run(feed).values.first!.elements(as: Float.self)
            #expect((x[0] > x[1]) == (y[0] > y[1]), "float32 \(x), int8 \(y)")
            #expect(abs(x[0] - y[0]) < 0.1, "float32 \(x), int8 \(y)")
        }
    }

    /// x → Conv → Relu → Conv → Clip(0, 6) → Conv → y, with ranges measured on random data.
    static func convChain() throws -> Model {
        var generator = SeededGenerator(seed: 9)
        func weights(_ name: String, _ dims: [Int]) throws -> Initializer {
            try LimitModels.floats(name, (0..<dims.reduce(1, *)).map { _ in Float.random(in: -0.5...0.5, using: &generator) }, dims)
        }
        let nodes = [
            Node(opType: "Conv", name: "c1", inputs: ["x", "w1", "b1"], outputs: ["c1"], attributes: [LimitModels.attribute("pads", ints: [1, 1, 1, 1])]),
            Node(opType: "Relu", name: "r1", inputs: ["c1"], outputs: ["r1"]),
            Node(opType: "Conv", name: "c2", inputs: ["r1", "w2"], outputs: ["c2"]),
            Node(opType: "Clip", name: "clip", inputs: ["c2", "lo", "hi"], outputs: ["k2"]),
            Node(opType: "Conv", name: "c3", inputs: ["k2", "w3", "b3"], outputs: ["y"]),
        ]
        return ModelBuilder.model(opset: 13, nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 8, 8])],
                                  outputs: [ModelBuilder.tensor("y", .float32, [1, 2, 8, 8])],
                                  initializers: [try weights("w1", [8, 4, 3, 3]), try weights("b1", [8]), try weights("w2", [8, 8, 1, 1]),
                                                 try LimitModels.floats("lo", [0], []), try LimitModels.floats("hi", [6], []),
                                                 try weights("w3", [2, 8, 1, 1]), try weights("b3", [2])])
    }

    @Test(arguments: [true, false])
    func chainQuantizesFoldsActivationsAndKeepsTheOutputLayer(symmetric: Bool) throws {
        let model = try Self.convChain()
        let float32 = try model.serialized()
        var generator = SeededGenerator(seed: 1)
        let feeds = try (0..<4).map { _ in ["x": try Tensor.random(dtype: .float32, shape: [1, 4, 8, 8], generator: &generator)] }
        var remaining = feeds[...]
        let statistics = try ActivationStatistics.collect(model: model, on: Self.target, histogramBins: 2048) { remaining.popFirst() }
        var options = QuantizationOptions()
        options.symmetric = symmetric
        options.everyLayer = true  // the layers are too small for int8 to pay; the rewrite is under test
        let ranges = statistics.values.mapValues { Calibrator.range(of: $0, method: .minMax, symmetric: symmetric) }
        let plan = QuantizationPlan(graph: model.graph, ranges: ranges, options: options)
        #expect(plan.quantizedLayers == ["c1", "c2"])
        #expect(plan.decisions.first { $0.node == "c3" }?.reason?.hasPrefix("output layer") == true)
        #expect(plan.foldedRelus == (symmetric ? [:] : ["c1": "r1", "c2": "k2"]))
        let result = try QDQRewrite.apply(plan, to: model, options: options)
        #expect(result.relusFolded == (symmetric ? 0 : 2) && result.weightsQuantized == 2 && result.biasesQuantized == 1)
        #expect(model.graph.nodes.contains { $0.opType == "Relu" } == symmetric)
        #expect(Validator.validate(model).isEmpty)
        let a = try Self.target.session(.bytes(float32, name: "float32")), b = try Self.target.session(.bytes(try model.serialized(), name: "int8"))
        for feed in feeds {
            let c = try TensorComparison(actual: try b.run(feed)["y"]!, reference: try a.run(feed)["y"]!)
            #expect(c.relativeL2 < 0.03, "relative L2 \(c.relativeL2)")
        }
    }

    /// The cost rule on a MobileNet-like chain: stem (K 27) → 3x3 conv (K 144) → depthwise (K 9)
    /// → 1x1 (K 128) → 1x1 (K 64) → output layer. Int8 where it pays alone (K ≥ 128), beside int8
    /// (K ≥ 64), the depthwise between two int8 layers; never the 3-channel stem.
    @Test func costRuleQuantizesWhereInt8Pays() throws {
        var generator = SeededGenerator(seed: 4)
        func weights(_ name: String, _ dims: [Int]) throws -> Initializer {
            try LimitModels.floats(name, (0..<dims.reduce(1, *)).map { _ in Float.random(in: -0.2...0.2, using: &generator) }, dims)
        }
        let pad = LimitModels.attribute("pads", ints: [1, 1, 1, 1])
        let nodes = [
            Node(opType: "Conv", name: "stem", inputs: ["x", "w0"], outputs: ["s"], attributes: [pad]),
            Node(opType: "Conv", name: "wide", inputs: ["s", "w1"], outputs: ["a"], attributes: [pad]),
            Node(opType: "Relu", name: "act", inputs: ["a"], outputs: ["ar"]),
            Node(opType: "Conv", name: "depthwise", inputs: ["ar", "w2"], outputs: ["d"], attributes: [pad, .int("group", 128)]),
            Node(opType: "Conv", name: "project", inputs: ["d", "w3"], outputs: ["p"]),
            Node(opType: "Conv", name: "narrow", inputs: ["p", "w4"], outputs: ["n"]),
            Node(opType: "Conv", name: "head", inputs: ["n", "w5"], outputs: ["y"]),
        ]
        let model = ModelBuilder.model(opset: 13, nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 3, 8, 8])],
                                       outputs: [ModelBuilder.tensor("y", .float32, [1, 2, 8, 8])],
                                       initializers: [try weights("w0", [16, 3, 3, 3]), try weights("w1", [128, 16, 3, 3]), try weights("w2", [128, 1, 3, 3]),
                                                      try weights("w3", [64, 128, 1, 1]), try weights("w4", [64, 64, 1, 1]), try weights("w5", [2, 64, 1, 1])])
        var batches = try (0..<2).map { _ in ["x": try Tensor.random(dtype: .float32, shape: [1, 3, 8, 8], generator: &generator)] }[...]
        let statistics = try ActivationStatistics.collect(model: model, on: Self.target, histogramBins: 2048) { batches.popFirst() }
        var options = QuantizationOptions()
        options.maxTensorError = .infinity
        let ranges = statistics.values.mapValues { Calibrator.range(of: $0, method: .minMax, symmetric: false) }
        let plan = QuantizationPlan(graph: model.graph, ranges: ranges, options: options)
        #expect(plan.quantizedLayers == ["a", "d", "p", "n"], "\(plan.decisions)")
        let reasons = Dictionary(uniqueKeysWithValues: plan.decisions.map { ($0.node, $0.reason ?? "") })
        #expect(reasons["stem"]?.contains("K = 27") == true)
        #expect(reasons["head"]?.hasPrefix("output layer") == true)
        // Without its int8 neighbours the depthwise layer stays float.
        options.excludedNodeNames = [NamePattern("project")]
        let alone = QuantizationPlan(graph: model.graph, ranges: ranges, options: options)
        #expect(!alone.quantizedLayers.contains("d") && alone.quantizedLayers.contains("a"))
        #expect(alone.decisions.first { $0.node == "depthwise" }?.reason?.hasPrefix("depthwise") == true)
    }

    /// The accuracy search: each layer's effect measured once, the most harmful sent back to
    /// float until the outputs are within the target, in |S| + log₂|S| + 1 runs at most.
    @Test func accuracySearchMeetsItsTargetWithFewRuns() throws {
        let dir = try TestMaterial.temporaryDirectory("search")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("chain.onnx").path
        try Self.convChain().save(to: input)
        var generator = SeededGenerator(seed: 2)
        let feeds = try (0..<4).map { _ in ["x": try Tensor.random(dtype: .float32, shape: [1, 4, 8, 8], generator: &generator)] }
        func job(_ target: Double?) -> QuantizationJob {
            var remaining = feeds[...]
            var options = QuantizationOptions()
            (options.everyLayer, options.floatOutputLayers, options.maxTensorError) = (true, 0, .infinity)
            var job = QuantizationJob(options: options, runtime: Self.target,
                                      calibration: .data(.init(source: "random", measuresRanges: true) { _ in { remaining.popFirst() } }))
            job.accuracyTarget = target
            job.validationBatches = 4
            return job
        }
        let loose = try job(10).run(input: input, output: dir.appendingPathComponent("a.onnx").path).report
        let all = try #require(loose.search)
        #expect(all.runs == 1 && all.keptFloat.isEmpty && loose.quantizedLayers == 3)
        let target = all.errorBefore / 3
        let tight = try job(target).run(input: input, output: dir.appendingPathComponent("b.onnx").path).report
        let found = try #require(tight.search)
        #expect(found.errorAfter <= target && !found.keptFloat.isEmpty)
        #expect(found.runs <= 1 + 3 + 2)
        #expect(found.effects.map(\.relativeL2) == found.effects.map(\.relativeL2).sorted(by: >))
        #expect(tight.quantizedLayers == 3 - found.keptFloat.count)
        #expect {
            try job(1e-12).run(input: input, output: dir.appendingPathComponent("c.onnx").path)
        } throws: { ($0 as? PrecisionError).map { if case .accuracyNotMet = $0 { true } else { false } } == true && "\($0)".contains("no layer can run in int8 within target 1.00e-12") }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.onnx").path))
    }

    /// The agreement target on the real angle classifier and real pictures: every layer starts in
    /// int8, and the search sends back to float what it takes for int8 to pick float32's class
    /// on every validation picture; the written model does.
    @Test func agreementSearchKeepsTheClassifiersClasses() throws {
        let dir = try TestMaterial.temporaryDirectory("agreement")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try TestMaterial.path("models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"), output = dir.appendingPathComponent("cls-int8.onnx").path
        let feeds = try Self.pictureFeeds(count: 8)
        var remaining = feeds[...]
        var options = QuantizationOptions()
        (options.everyLayer, options.maxTensorError) = (true, .infinity)
        var job = QuantizationJob(options: options, runtime: Self.target,
                                  calibration: .data(.init(source: "pictures", measuresRanges: true) { _ in { remaining.popFirst() } }))
        job.agreementTarget = 1
        job.validationBatches = feeds.count
        let report = try job.run(input: input, output: output).report
        let search = try #require(report.search)
        #expect(search.tolerance == nil && search.targetAgreement == 1 && search.agreementAfter == 1)
        #expect(report.quantizedLayers > 0)
        let a = try Self.target.session(.file(input)), b = try Self.target.session(.file(output))
        func argmax(_ t: Tensor) throws -> Int { let v = try t.elements(as: Float.self); return v.indices.max { v[$0] < v[$1] }! }
        for feed in feeds {
            #expect(try argmax(try a.run(feed).values.first!) == argmax(try b.run(feed).values.first!))
        }
    }

    /// Real test pictures through PaddleOCR's classifier preprocessing (48x192, BGR, (x/255 − 0.5)/0.5), one feed each.
    static func pictureFeeds(count: Int) throws -> [[String: Tensor]] {
        let names = ["page.png", "text.png", "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "coins.png"]
        let images = try ImageDecoder().decode(files: try names.prefix(count).map { try TestMaterial.path("images/skimage/\($0)") })
        let preprocessor = try Preprocessor(spec: try #require(PreprocessSpec.preset(named: "paddleocr-cls")))
        return try images.map { ["x": try preprocessor.batch([$0], size: 1).0] }
    }
}
