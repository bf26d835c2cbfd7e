import FoundationEssentials
import CUDA
import ONNX
import Tensors

/// What `halfpipe plan MODEL --device cuda` prints: where each node runs (host, a step, a view), the
/// fused groups, each step's kernel and output, and the memory plan. Host code, no GPU needed.
public struct PlanReport: Codable, Sendable {
    public struct Step: Codable, Sendable {
        public var index: Int
        public var kind: String
        public var nodes: [String]
        public var output: String
        /// For convolutions: the geometry and the fused epilogue.
        public var detail: String?
    }

    public var model: String
    public var inputs: [String]
    public var steps: [Step]
    public var nodesOnHost: Int
    /// Steps run by the fallback backend (hybrid execution).
    public var hostSteps = 0
    public var nodesAsViews: Int
    /// Nodes run by the fallback backend.
    public var nodesOnFallback: Int
    public var nodesOnGPU: Int
    public var fusedGroups: Int
    public var arenaBytes: Int
    public var unsharedBytes: Int
    public var weightBytes: Int
    public var multiplyAdds: Int
    /// Bytes the device steps read and write in one run (each step's inputs, weights and output
    /// once): the numerator of the memory-bandwidth fraction; caches make the real traffic lower.
    public var trafficBytes = 0
    /// Nodes by op type and placement ("host", "view", "gpu").
    public var placements: [String: [String: Int]]

    public init(plan: EnginePlan, model: String) {
        self.model = model
        inputs = plan.inputs.map { plan.tensors[$0.tensor].summary }
        var steps: [Step] = []
        var macs = 0
        for (i, step) in plan.steps.enumerated() {
            switch step {
            case .convolution(let c):
                let act = switch c.activation {
                case .identity: ""
                case .relu: " + ReLU"
                case .clippedRelu(let v): " + Clip(0, \(v))"
                }
                steps.append(Step(index: i, kind: "convolution (cuDNN)", nodes: plan.stepNodes[i], output: plan.tensors[c.output].summary,
                                  detail: "\(c.geometry) + bias\(c.residual == nil ? "" : " + residual")\(act)"))
                macs += c.geometry.multiplyAdds
            case .transposedConvolution(let c):
                steps.append(Step(index: i, kind: "transposed convolution (cuDNN)", nodes: plan.stepNodes[i], output: plan.tensors[c.output].summary,
                                  detail: "backward data of \(c.geometry) + bias"))
                macs += c.geometry.multiplyAdds
            case .matrixProduct(let m):
                steps.append(Step(index: i, kind: "matrix product (cuBLASLt)", nodes: plan.stepNodes[i], output: plan.tensors[m.output].summary,
                                  detail: m.shape.description))
                macs += m.shape.multiplyAdds
            case .generated(let g):
                steps.append(Step(index: i, kind: g.kind, nodes: plan.stepNodes[i], output: plan.tensors[g.output].summary, detail: nil))
            case .host(let h):
                steps.append(Step(index: i, kind: "host (ONNX Runtime, CPU)", nodes: plan.stepNodes[i], output: h.outputs.joined(separator: ", "),
                                  detail: "reads " + h.inputs.joined(separator: ", ")))
                hostSteps += 1
            case .transfer(let t):
                steps.append(Step(index: i, kind: t.toHost ? "copy to host" : "copy to GPU", nodes: [], output: t.value, detail: nil))
            }
        }
        self.steps = steps
        multiplyAdds = macs
        var byOp: [String: [String: Int]] = [:]
        for p in plan.placements {
            let where_ = p.runsOnGPU ? "gpu" : p.isHostStep ? "onnxruntime" : p.placement
            byOp[p.opType, default: [:]][where_, default: 0] += 1
        }
        placements = byOp
        nodesOnHost = plan.placements.filter { $0.placement == "host" }.count
        nodesAsViews = plan.placements.filter { $0.placement == "view" }.count
        nodesOnFallback = plan.placements.filter(\.isHostStep).count
        nodesOnGPU = plan.placements.filter(\.runsOnGPU).count
        fusedGroups = plan.stepNodes.filter { $0.count > 1 }.count
        let memory = MemoryPlan(plan)
        arenaBytes = memory.totalBytes
        unsharedBytes = memory.unsharedBytes
        weightBytes = plan.weights.reduce(0) { $0 + $1.byteCount }
        trafficBytes = Self.traffic(plan)
    }

    static func traffic(_ plan: EnginePlan) -> Int {
        var bytes = 0
        for step in plan.steps where step.runsOnDevice {
            if case .transfer = step { continue }
            bytes += (step.inputs + step.outputs).reduce(0) { $0 + plan.tensors[$1].byteCount }
            switch step {
            case .convolution(let c), .transposedConvolution(let c): bytes += plan.weights[c.filter].byteCount + plan.weights[c.bias].byteCount
            case .generated(let g): bytes += g.weights.reduce(0) { $0 + plan.weights[$1].byteCount }
            default: break
            }
        }
        return bytes
    }

    public var text: String {
        func mb(_ b: Int) -> String { NumberText.fixed(Double(b) / 1e6, 1) + " MB" }
        var lines = ["\(model): \(steps.count) steps for \(nodesOnGPU + nodesOnHost + nodesAsViews + nodesOnFallback) nodes (\(nodesOnGPU) on the GPU in \(steps.count - hostSteps) steps, \(fusedGroups) fused groups; \(nodesAsViews) views; \(nodesOnHost) folded at load; \(nodesOnFallback) on ONNX Runtime (CPU) in \(hostSteps) host steps)"]
        lines.append("inputs: " + inputs.joined(separator: ", "))
        for s in steps {
            let number = String(s.index)
            lines.append(String(repeating: " ", count: max(4 - number.count, 0)) + number + "  \(s.kind)  " + (s.nodes.isEmpty ? "(edge)" : s.nodes.joined(separator: " + ")))
            if let d = s.detail { lines.append("        " + d) }
            lines.append("        → " + s.output)
        }
        lines.append("memory plan: \(mb(arenaBytes)) for every activation (\(mb(unsharedBytes)) without reuse), weights \(mb(weightBytes)) FP16")
        lines.append("work: " + NumberText.fixed(Double(multiplyAdds) / 1e9, 2) + " GMAC per run in convolutions and matrix products; "
                     + mb(trafficBytes) + " read and written by the steps")
        lines.append("by op: " + placements.sorted { $0.key < $1.key }.map { op, w in "\(op) " + w.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: "/") }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
