import Dispatch
import FoundationEssentials
import Inference
import ONNX
import Tensors

/// Statistics of every float32 value of a model's main graph over a stream of input batches: min,
/// max, largest |x|, Inf/NaN, and optionally a histogram of |x|. One reference run per batch with
/// every intermediate as an extra output; each batch's tensors are folded into the statistics and
/// dropped, so memory stays bounded by one batch whatever the number of batches (ONNX Runtime's
/// calibrators keep every intermediate of every batch). Range analysis reads the largest |x|; INT8
/// calibrators read the histograms.
public struct ActivationStatistics: Sendable {
    public struct Value: Sendable, Codable {
        public var min: Float = .infinity
        public var max: Float = -.infinity
        /// Largest finite |x|.
        public var largestAbs: Float = 0
        /// Whether any batch held Inf or NaN here (in float32 already).
        public var nonFinite = false
        /// Elements per batch (the largest seen): averaging reductions compare it between values.
        public var elements = 0
        public var histogram: AbsHistogram?

        public init() {}
    }

    public private(set) var values: [String: Value] = [:]
    public private(set) var batches = 0
    /// Values left unmeasured because, exposed as outputs, they made the runtime refuse a node
    /// near them (each with the node).
    public internal(set) var unmeasured: [String: String] = [:]
    /// Bins of each |x| histogram; nil collects none (range analysis needs only the extremes).
    public let histogramBins: Int?

    public init(histogramBins: Int? = nil) { self.histogramBins = histogramBins }

    /// Folds one batch's float32 tensors (by value name) into the statistics.
    public mutating func add(_ tensors: [String: Tensor]) {
        batches += 1
        // Each tensor folds into its own value: the tensors are spread over the cores (taken out
        // of the table first, so no histogram is copied on write), then put back.
        let work = tensors.filter { $0.value.dtype == .float32 }.sorted { $0.key < $1.key }
        var folded = work.map { name, _ in
            values.removeValue(forKey: name) ?? { var fresh = Value(); fresh.histogram = histogramBins.map { AbsHistogram(bins: $0) }; return fresh }()
        }
        let elements = work.reduce(0) { $0 + $1.value.elementCount }
        let workers = elements >= Self.parallelElements ? Swift.min(ParallelChunks.coreCount, work.count) : 1
        folded.withUnsafeMutableBufferPointer { buffer in
            let shared = UncheckedSendable((buffer, work))
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let (buffer, work) = shared.value
                // Interleaved, so large and small tensors spread evenly over the workers.
                for i in stride(from: worker, to: work.count, by: workers) { Self.fold(work[i].value, into: &buffer[i]) }
            }
        }
        for (i, entry) in work.enumerated() { values[entry.key] = folded[i] }
    }

    /// Below this many elements in a batch, one core folds it before threads would start.
    static let parallelElements = 1 << 20

    static func fold(_ tensor: Tensor, into v: inout Value) {
        v.elements = Swift.max(v.elements, tensor.elementCount)
        tensor.withUnsafeBufferPointer(as: Float.self) { x in
            let s = RawFloatKernels.statistics(x)
            (v.min, v.max, v.largestAbs) = (Swift.min(v.min, s.min), Swift.max(v.max, s.max), Swift.max(v.largestAbs, s.largestAbs))
            v.nonFinite = v.nonFinite || s.nonFinite > 0
            v.histogram?.add(x, largest: v.largestAbs)  // the magnitude just found: no second pass for it
        }
    }

    /// Runs `model` (float32, unchanged) once per batch `nextBatch` hands out (nil ends the stream)
    /// with every float32 intermediate of the main graph as an extra output, on `backend`.
    /// `progress` hears the number of batches done.
    /// `only` limits the extra outputs to these values (fewer copies, and the runtime keeps its
    /// fusions elsewhere); nil exposes them all.
    ///
    /// An extra output keeps the runtime from rewriting around its value (ONNX Runtime folds the
    /// Transposes around a ViT's cubic Resize only when their results are not outputs, and refuses
    /// the Resize otherwise): where the runtime refuses a node of the exposing model, the values on
    /// the data-movement chains into and out of that node are not measured, and the first batch
    /// runs again.
    public static func collect(model: Model, on target: ExecutionTarget, histogramBins: Int? = nil, only: Set<String>? = nil,
                               nextBatch: () throws -> [String: Tensor]?, progress: (Int) -> Void = { _ in }) throws -> ActivationStatistics {
        var statistics = ActivationStatistics(histogramBins: histogramBins)
        guard let first = try nextBatch() else { return statistics }
        var probe = exposingIntermediates(model, only: only)
        var started: (any Session)?
        var attempt = 0
        while started == nil {
            do {
                let session = try target.session(.bytes(try probe.serialized(), name: "activation statistics"))
                statistics.add(try session.run(first).merging(first) { output, _ in output })
                started = session
            } catch {
                attempt += 1
                let extras = Set(probe.graph.outputs.map(\.name)).subtracting(model.graph.outputs.map(\.name))
                guard attempt <= 16, let (node, near) = Self.unexposing(after: error, on: target, graph: model.graph, exposed: extras) else { throw error }
                for value in near { statistics.unmeasured[value] = "\(node.opType) '\(node.name)'" }
                probe = exposingIntermediates(model, only: extras.subtracting(near))
            }
        }
        progress(statistics.batches)
        while let session = started, let batch = try nextBatch() {
            let outputs = try session.run(batch)
            statistics.add(outputs.merging(batch) { output, _ in output })
            progress(statistics.batches)
        }
        return statistics
    }

    /// After `error`, a run of `graph` with `exposed` values as extra outputs: the node the backend
    /// says it refused and the exposed values around it, to stop exposing before running again;
    /// nil when the refusal names no node of `graph`, or none of `exposed` is near it.
    static func unexposing(after error: any Error, on target: ExecutionTarget, graph: Graph, exposed: Set<String>) -> (node: Node, values: Set<String>)? {
        guard let name = target.backend.refusal(in: error)?.nodeName, !name.isEmpty,
              let node = graph.nodes.first(where: { $0.name == name }) else { return nil }
        let near = valuesAround(node, graph: graph).intersection(exposed)
        return near.isEmpty ? nil : (node, near)
    }

    /// The inputs and outputs of `node` and the values on the chains of data movement and
    /// Identity before and after it: what a runtime may need to rewrite away around the node.
    static func valuesAround(_ node: Node, graph: Graph) -> Set<String> {
        let defUse = DefUse(graph)
        func moves(_ n: Node) -> Bool { n.opType == "Identity" || QuantizationPlan.dataMovement.contains(n.opType) }
        var values = Set<String>()
        var backward = node.inputs.filter { !$0.isEmpty }, forward = node.outputs.filter { !$0.isEmpty }
        while let value = backward.popLast() {
            guard values.insert(value).inserted else { continue }
            if let producer = defUse.producer[value], moves(producer) { backward += producer.inputs.prefix(1).filter { !$0.isEmpty } }
        }
        while let value = forward.popLast() {
            guard values.insert(value).inserted else { continue }
            for use in defUse.consumers(of: value) where moves(use.node) && use.input == 0 { forward += use.node.outputs.filter { !$0.isEmpty } }
        }
        return values
    }

    /// The float32 values of the main graph that statistics cover: its float32 inputs and every
    /// float32 value its nodes produce (what a calibration cache may name).
    public static func floatValues(of model: Model) -> Set<String> {
        let types = TypeInference(model).types(in: model.graph)
        var names = Set(model.graph.inputs.filter { $0.elementType == .float32 }.map(\.name))
        for node in model.graph.nodes { for output in node.outputs where types[output] == .float32 { names.insert(output) } }
        return names
    }

    /// A copy of `model` whose main graph also outputs every float32 value its nodes produce.
    static func exposingIntermediates(_ model: Model, only: Set<String>? = nil) -> Model {
        let probe = Model(proto: model.message())
        let types = TypeInference(probe).types(in: probe.graph)
        var declared = Set(probe.graph.outputs.map(\.name))
        let sequences = probe.graph.nonTensorValues(order: (try? TopologicalSort.order(probe.graph).get()) ?? probe.graph.nodes)
        for node in probe.graph.nodes where node.subgraphs.isEmpty {
            for output in node.outputs where !output.isEmpty && types[output] == .float32 && !sequences.contains(output) && !declared.contains(output)
                && only?.contains(output) != false {
                probe.graph.outputs.append(ValueInfo(name: output, elementType: .float32, shape: nil))
                declared.insert(output)
            }
        }
        return probe
    }
}

/// A histogram of |x| with a fixed number of bins over [0, range), where the range grows by
/// doubling as larger values arrive: neighbouring bins merge pairwise, so counts stay exact and a
/// stream needs no first pass for its maximum (TensorRT's and ORT's calibrators take two passes or
/// keep the data). The range is always `firstWidth · 2^k · bins`.
public struct AbsHistogram: Sendable, Codable, Equatable {
    public private(set) var counts: [Int]
    /// Upper edge of the last bin; 0 until a non-zero value arrives. Double: the power of two above
    /// float32's largest values (2^128) is past float32's own range.
    public private(set) var range: Double = 0
    /// Zeros seen before any non-zero value set the range (then they move to the first bin).
    public private(set) var zeros = 0

    public init(bins: Int) { counts = Array(repeating: 0, count: Swift.max(bins, 2) & ~1) }

    public var bins: Int { counts.count }
    public var binWidth: Double { range / Double(bins) }
    public var total: Int { counts.reduce(0, +) + zeros }

    /// Adds the finite values of `x` (Inf and NaN are counted by the caller's flags, not here).
    public mutating func add(_ x: UnsafeBufferPointer<Float>) {
        add(x, largest: RawFloatKernels.statistics(x).largestAbs)
    }

    /// `add` when the caller knows the largest finite |x| of `x` (or of everything seen so far,
    /// which only ever covers it).
    mutating func add(_ x: UnsafeBufferPointer<Float>, largest: Float) {
        guard largest > 0 else {
            // Only zeros (and non-finite values): they wait for a range, or go to the first bin.
            let n = x.lazy.filter { $0 == 0 }.count
            if range == 0 { zeros += n } else { counts[0] += n }
            return
        }
        if range == 0 {
            // The first range: the next power of two above the largest value, so later doublings
            // keep the edges exact in float arithmetic.
            range = Double(sign: .plus, exponent: Int(largest.exponent) + 1, significand: 1)
            counts[0] += zeros
            zeros = 0
        }
        while Double(largest) >= range { grow() }
        // In Double, bins / range is exact (range is a power of two; in Float it overflows to
        // infinity for ranges below about 2^-100, and Int(_:) traps) and so is |x| · scale (24-bit
        // significand × bins): each value lands in its true bin whatever the bin count (in Float a
        // value just under an edge rounds into the next bin), so streamed batches equal one batch.
        let scale = Double(bins) / range
        counts.withUnsafeMutableBufferPointer { c in
            c.withMemoryRebound(to: Int64.self) { RawFloatKernels.addAbsHistogram(x, scale: scale, into: $0) }
        }
    }

    /// Doubles the range: bins 2i and 2i+1 become bin i.
    mutating func grow() {
        let half = bins / 2
        for i in 0..<half { counts[i] = counts[2 * i] + counts[2 * i + 1] }
        for i in half..<bins { counts[i] = 0 }
        range *= 2
    }
}
