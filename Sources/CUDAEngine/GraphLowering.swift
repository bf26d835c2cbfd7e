import FoundationEssentials
import CUDA
import ONNX
import Precision
import Tensors

/// Lowers an ONNX model, for fixed input shapes, to an `EnginePlan`: shape subgraphs folded on the
/// host, BatchNorm folded into convolutions (by `Precision`'s pass, in float64), convolutions with
/// their bias, residual Add and ReLU fused into one cuDNN call, chains of elementwise nodes fused
/// into one generated kernel, views for Reshape/Flatten, NHWC inside with conversions at the edges.
/// Pure host code: `plan` prints it and the tests check it without a GPU.
public struct GraphLowering {
    let graph: Graph
    /// The model's ai.onnx opset (defaults changed over versions: Softmax's axis).
    let opset: Int
    var plan = EnginePlan()
    /// Values known on the host (weights, constants, folded shape arithmetic).
    var host: [String: HostFolding.Value] = [:]
    /// Values computed on the device: their planned tensor.
    var device: [String: Int] = [:]
    var consumers: [String: [Int]] = [:]
    let graphOutputs: Set<String>
    /// Patterns emitted at their last node (by index), and the nodes they absorb.
    var patterns: [Int: Pattern] = [:]
    var absorbed: Set<Int> = []
    let initializers: [String: Initializer]
    /// Runs the nodes the engine cannot (nil: such a node is an error).
    let fallback: HostFallback?
    /// Values of the run that live on the host (integer inputs, host steps' outputs): type and shape.
    var hostValues: [String: (DType, [Int])] = [:]
    /// The model's IR version and opsets, for the host steps' sub-models.
    let modelHeader: Onnx_ModelProto

    enum Pattern {
        /// Conv/Gemm/MatMul, then optionally Add (the residual) and an activation node.
        case layer(layer: Int, add: Int?, activation: Int?)
        /// Elementwise nodes, each the only consumer of the one before.
        case elementwise([Int])
    }

    /// Plans `model` (which it rewrites: BatchNorm folding) for `inputShapes` by input name; inputs
    /// with fixed dimensions may be left out.
    public static func lower(_ model: Model, inputShapes: [String: [Int]], fallback: HostFallback? = nil) throws(EngineError) -> EnginePlan {
        BatchNormFolding.apply(to: model)
        try StandaloneBatchNorm.rewrite(model.graph)
        var header = Onnx_ModelProto()
        header.irVersion = model.proto.irVersion
        header.opsetImport = model.proto.opsetImport
        var lowering = GraphLowering(graph: model.graph, opset: model.opsetVersion("") ?? model.opsetVersion("ai.onnx") ?? 13, fallback: fallback, header: header)
        try lowering.run(inputShapes: inputShapes)
        return lowering.plan
    }

    init(graph: Graph, opset: Int, fallback: HostFallback? = nil, header: Onnx_ModelProto = Onnx_ModelProto()) {
        self.graph = graph
        self.opset = opset
        self.fallback = fallback
        modelHeader = header
        graphOutputs = Set(graph.outputs.map(\.name))
        initializers = Dictionary(graph.initializers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(i) }
        }
    }

    mutating func run(inputShapes: [String: [Int]]) throws(EngineError) {
        for node in graph.nodes where node.hasSubgraphs {
            throw .refusing(node, "control flow (subgraphs) is not supported")
        }
        try addInputs(inputShapes)
        findPatterns()
        for (i, node) in graph.nodes.enumerated() {
            if absorbed.contains(i) { continue }
            if let pattern = patterns[i] {
                do {
                    switch pattern {
                    case .layer(let layer, let add, let activation): try emitLayer(layer, add: add, activation: activation)
                    case .elementwise(let chain):
                        // A chain over constants (a weight's Cast and scale) is folded, as far as it goes.
                        var rest = chain[...]
                        while let first = rest.first, try fold(graph.nodes[first]) { rest = rest.dropFirst() }
                        if !rest.isEmpty { try emitElementwise(Array(rest)) }
                    }
                } catch let error where fallback != nil && Self.isRefusal(error) {
                    // The pattern's nodes one by one, each on the GPU if it can be, else on the host.
                    let members: [Int] = switch pattern {
                    case .layer(let layer, let add, let activation): [layer, add, activation].compactMap { $0 }
                    case .elementwise(let chain): chain
                    }
                    for k in members.sorted() where graph.nodes[k].outputs.contains(where: { device[$0] == nil && hostValues[$0] == nil }) {
                        try lowerNodeOrHost(k)
                    }
                }
                continue
            }
            if try fold(node) { continue }
            try lowerNodeOrHost(i)
        }
        try addOutputs()
        // Every node on ONNX Runtime: the engine would only add copies around it.
        let onHost = plan.placements.filter(\.isHostStep)
        if !onHost.isEmpty, !plan.placements.contains(where: \.runsOnGPU) {
            let ops = Array(Set(onHost.map(\.opType))).sorted().joined(separator: ", ")
            throw EngineError.unsupported(node: "the model", opType: ops, reason: "none of its nodes has a kernel in the engine, so every one would run on ONNX Runtime with copies around it")
        }
    }

    static func isRefusal(_ error: EngineError) -> Bool {
        if case .unsupported = error { true } else { false }
    }

    /// `lowerNode`, or the node on the host when the engine refuses it and a fallback is there.
    mutating func lowerNodeOrHost(_ index: Int) throws(EngineError) {
        do {
            try lowerNode(index)
        } catch let error where fallback != nil && Self.isRefusal(error) {
            try lowerOnHost(graph.nodes[index], why: error)
        }
    }

    // MARK: edges

    mutating func addInputs(_ given: [String: [Int]]) throws(EngineError) {
        let constantNames = Set(initializers.keys)
        for input in graph.inputs where !constantNames.contains(input.name) {
            let declared = input.shape ?? []
            let shape: [Int]
            if let g = given[input.name] {
                guard g.count == declared.count else {
                    throw EngineError.badInput("input '\(input.name)': shape \(g) has rank \(g.count), the model declares rank \(declared.count)")
                }
                for (axis, d) in declared.enumerated() {
                    if case .fixed(let v) = d, v > 0, v != g[axis] {
                        throw EngineError.badInput("input '\(input.name)': dimension \(axis) is \(g[axis]), the model fixes it at \(v)")
                    }
                }
                shape = g
            } else {
                var dims: [Int] = []
                for d in declared {
                    guard case .fixed(let v) = d, v > 0 else { throw EngineError.badInput("input '\(input.name)' has a symbolic dimension: give its shape") }
                    dims.append(v)
                }
                shape = dims
            }
            guard shape.allSatisfy({ $0 > 0 }) else { throw EngineError.badInput("input '\(input.name)': shape \(shape) has an empty dimension") }
            let type = input.elementType ?? .float32
            if fallback != nil && !(type == .float32 || type == .float16) {
                plan.hostInputs.append(input.name)
                hostValues[input.name] = (type, shape)
                continue
            }
            guard type == .float32 || type == .float16 else {
                throw EngineError.unsupported(node: "input '\(input.name)'", opType: "input", reason: "\(type.name) inputs are not supported (float32 and float16 are)")
            }
            let staged = plan.add(PlannedTensor(name: input.name, shape: shape, dtype: type))
            plan.inputs.append((input.name, staged))
            // Rank 4 goes NHWC; channels padded to 8 when only ungrouped convolutions read it (the
            // 3-channel image of every CNN), which tensor-core kernels need.
            var stored = shape.count == 4 ? shape[1] : 0
            if shape.count == 4, shape[1] % 8 != 0, let readers = consumers[input.name], !readers.isEmpty,
               readers.allSatisfy({ graph.nodes[$0].opType == "Conv" && (graph.nodes[$0][attribute: "group"]?.int ?? 1) == 1 && graph.nodes[$0].inputs[0] == input.name }) {
                stored = (shape[1] + 7) / 8 * 8
            }
            let inside = plan.add(PlannedTensor(name: input.name + ":fp16", shape: shape, layout: shape.count == 4 ? .nhwc : .rowMajor, storedChannels: stored))
            try copy(from: staged, to: inside, kind: "input", nodes: [])
            device[input.name] = inside
        }
    }

    mutating func addOutputs() throws(EngineError) {
        for output in graph.outputs {
            if let value = host[output.name] {
                throw EngineError.unsupported(node: "output '\(output.name)'", opType: "output", reason: "the output is a constant (\(value.shape)); nothing runs on the GPU for it")
            }
            if device[output.name] == nil, hostValues[output.name] != nil {
                plan.hostOutputs.append(output.name)
                continue
            }
            guard let t = device[output.name] else { throw EngineError.badInput("output '\(output.name)' is not computed by any node") }
            let type = output.elementType ?? .float32
            guard type == .float32 || type == .float16 else {
                throw EngineError.unsupported(node: "output '\(output.name)'", opType: "output", reason: "\(type.name) outputs are not supported (float32 and float16 are)")
            }
            let out = plan.add(PlannedTensor(name: output.name + ":out", shape: plan.tensors[t].shape, dtype: type))
            try copy(from: t, to: out, kind: "output", nodes: [])
            plan.outputs.append((output.name, out))
        }
    }

    // MARK: patterns

    func onlyConsumer(of value: String) -> Int? {
        guard !graphOutputs.contains(value), let c = consumers[value], c.count == 1 else { return nil }
        return c[0]
    }

    mutating func findPatterns() {
        for (i, node) in graph.nodes.enumerated() where Self.layerOps.contains(node.opType) && node.canonicalDomain == "ai.onnx" {
            guard !absorbed.contains(i), patterns[i] == nil, let out = node.outputs.first else { continue }
            var add: Int?, activation: Int?
            var last = i
            if let next = onlyConsumer(of: out), !absorbed.contains(next), patterns[next] == nil {
                let op = graph.nodes[next].opType
                if op == "Relu" || op == "Clip" {
                    activation = next
                } else if op == "Add" || op == "Sum", graph.nodes[next].inputs.count == 2, graph.nodes[next].inputs[0] != graph.nodes[next].inputs[1] {
                    add = next
                    if let after = onlyConsumer(of: graph.nodes[next].outputs[0]), ["Relu", "Clip"].contains(graph.nodes[after].opType),
                       !absorbed.contains(after), patterns[after] == nil {
                        activation = after
                    }
                }
            }
            for n in [add, activation].compactMap({ $0 }) { absorbed.insert(n); last = max(last, n) }
            guard last != i else { continue }
            absorbed.insert(i)
            absorbed.remove(last)
            patterns[last] = .layer(layer: i, add: add, activation: activation)
        }
        for (i, node) in graph.nodes.enumerated() where ElementwiseLowering.isElementwise(node) {
            guard !absorbed.contains(i), patterns[i] == nil else { continue }
            var chain = [i]
            while let next = onlyConsumer(of: graph.nodes[chain.last!].outputs[0]), ElementwiseLowering.isElementwise(graph.nodes[next]),
                  !absorbed.contains(next), patterns[next] == nil, !chain.contains(next) {
                chain.append(next)
            }
            guard chain.count > 1 else { continue }
            for n in chain.dropLast() { absorbed.insert(n) }
            patterns[chain.last!] = .elementwise(chain)
        }
    }

    // MARK: host folding

    static let reshapingOps: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast"]
    static let weightArithmetic: Set<String> = ["Add", "Sub", "Mul", "Div"]

    /// Folds `node` on the host when everything it reads is known there; false when it must run.
    mutating func fold(_ node: Node) throws(EngineError) -> Bool {
        guard node.canonicalDomain == "ai.onnx", HostFolding.foldable.contains(node.opType) else { return false }
        var values: [HostFolding.Value?] = []
        for (slot, name) in node.inputs.enumerated() {
            if name.isEmpty { values.append(nil); continue }
            if node.opType == "Shape" && slot == 0, device[name] != nil || hostValues[name] != nil { values.append(nil); continue }
            guard let v = try hostValue(name) else { return false }
            values.append(v)
        }
        // Small values fold always. Large ones fold when the result is no larger than its operands:
        // reshaping a weight, or arithmetic on it (a dequantized weight, int8 · scale, which the
        // device would otherwise recompute on every run). What grows (an Expand of weights, say)
        // is the device's business.
        let largest = values.map { $0?.numbers.count ?? 0 }.max() ?? 0
        let grows = ShapeRules.broadcast(values.compactMap { $0?.shape }).map { $0.reduce(1, *) > largest } ?? true
        guard Self.reshapingOps.contains(node.opType) || largest <= 1 << 16 || (Self.weightArithmetic.contains(node.opType) && !grows) else { return false }
        guard let outputs = try HostFolding.evaluate(node, inputs: values, shapeOf: { device[$0].map { plan.tensors[$0].shape } ?? hostValues[$0]?.1 }) else { return false }
        for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { host[name] = value }
        plan.placements.append(NodePlacement(node: node.name.isEmpty ? node.outputs[0] : node.name, opType: node.opType, placement: "host"))
        return true
    }

    /// A value known on the host: folded already, or an initializer (decoded on first use).
    mutating func hostValue(_ name: String) throws(EngineError) -> HostFolding.Value? {
        if let v = host[name] { return v }
        guard let initializer = initializers[name] else { return nil }
        let tensor: Tensor
        do { tensor = try initializer.tensor() } catch { throw EngineError.badInput("weight '\(name)': \(error)") }
        let value = try HostFolding.Value(tensor)
        host[name] = value
        return value
    }

    // MARK: helpers for the lowerings

    /// The planned tensor of a device value; a value known on the host is not one.
    mutating func tensor(_ name: String, for node: Node) throws(EngineError) -> Int {
        if device[name] == nil, hostValues[name] != nil { return try deviceTensor(name, for: node) }
        guard let t = device[name] else {
            throw .refusing(node, host[name] != nil || initializers[name] != nil ? "input '\(name)' is a constant where the engine expects computed data" : "input '\(name)' is not computed")
        }
        return t
    }

    mutating func functionName() -> String { "hp_k\(plan.steps.count)" }

    /// Queues a copy kernel from `source` to `target` (any layouts and types, same logical shape).
    mutating func copy(from source: Int, to target: Int, kind: String, nodes: [String]) throws(EngineError) {
        let s = plan.tensors[source], t = plan.tensors[target]
        guard s.shape == t.shape else { throw EngineError.internal("copying \(s.shape) into \(t.shape)") }
        if t.layout == .nhwc, t.storedChannels == 8, t.dtype == .float16, s.layout == .rowMajor, s.shape.count == 4 {
            let function = functionName()
            let code = KernelSource.imageToNHWC8(function: function, batch: s.shape[0], channels: s.shape[1], height: s.shape[2], width: s.shape[3],
                                                 sourceHalf: s.dtype == .float16)
            plan.append(.generated(GeneratedStep(kind: kind, function: function, source: code, output: target, inputs: [source], weights: [],
                                                 threads: s.shape[0] * s.shape[2] * s.shape[3])), nodes: nodes)
            return
        }
        if t.layout == .nhwc, t.isPadded, t.storedChannels % 8 == 0, t.dtype == .float16, s.layout == .nhwc, !s.isPadded, s.dtype == .float16 {
            let function = functionName()
            let code = KernelSource.padChannels(function: function, pixels: s.shape[0] * s.shape[2] * s.shape[3], channels: s.shape[1], stored: t.storedChannels)
            plan.append(.generated(GeneratedStep(kind: kind, function: function, source: code.source, output: target, inputs: [source], weights: [],
                                                 threads: code.threads)), nodes: nodes)
            return
        }
        var shape = t.shape, outStrides = t.strides, sourceStrides = s.strides
        var zeroAxis: Int?
        if t.isPadded {
            // Iterate over the stored channels, writing zeros past the real ones.
            shape[1] = t.storedChannels
            zeroAxis = 1
        }
        if shape.isEmpty { shape = [1]; outStrides = [0]; sourceStrides = [0] }
        let function = functionName()
        let code = KernelSource.copyKernel(function: function, shape: shape, outStrides: outStrides, outHalf: t.dtype == .float16, sourceStrides: sourceStrides,
                                           sourceHalf: s.dtype == .float16, zeroAxis: zeroAxis, zeroFrom: s.shape.count == 4 ? s.shape[1] : 0)
        plan.append(.generated(GeneratedStep(kind: kind, function: function, source: code.source, output: target, inputs: [source], weights: [],
                                             threads: code.threads)), nodes: nodes)
    }

    /// `t` in row-major order: itself when its storage already is, else a converted copy.
    mutating func rowMajor(_ t: Int, nodes: [String]) throws(EngineError) -> Int {
        let tensor = plan.tensors[t]
        if tensor.isRowMajorOrder { return t }
        let out = plan.add(PlannedTensor(name: tensor.name + ":rows", shape: tensor.shape))
        try copy(from: t, to: out, kind: "layout", nodes: nodes)
        return out
    }

    /// `t` as unpadded NHWC (rank 4): itself, or a converted copy.
    mutating func nhwc(_ t: Int, nodes: [String]) throws(EngineError) -> Int {
        let tensor = plan.tensors[t]
        if tensor.layout == .nhwc && !tensor.isPadded { return t }
        guard tensor.shape.count == 4 else {
            throw EngineError.unsupported(node: nodes.first ?? tensor.name, opType: "", reason: "a \(tensor.shape.count)-D input \(tensor.shape) where the kernel takes 4-D NCHW data")
        }
        let out = plan.add(PlannedTensor(name: tensor.name + ":nhwc", shape: tensor.shape, layout: .nhwc))
        try copy(from: t, to: out, kind: "layout", nodes: nodes)
        return out
    }

    /// A view of `t` with another shape (its storage read in row-major order).
    mutating func view(_ t: Int, as shape: [Int], name: String, nodes: [String]) throws(EngineError) -> Int {
        let source = try rowMajor(t, nodes: nodes)
        return plan.add(PlannedTensor(name: name, shape: shape, aliasOf: source))
    }

    static func name(_ node: Node) -> String { node.name.isEmpty ? node.outputs.first ?? node.opType : node.name }

    mutating func placed(_ nodes: [Node], _ placement: String) {
        for node in nodes { plan.placements.append(NodePlacement(node: Self.name(node), opType: node.opType, placement: placement)) }
    }
}
