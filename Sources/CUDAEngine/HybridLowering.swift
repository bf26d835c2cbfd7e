import FoundationEssentials
import Inference
import Synchronization
import ONNX
import Tensors

/// Where nodes the engine has no kernel for run: another backend (ONNX Runtime on the CPU). The
/// lowering asks it for the shapes of a host step's outputs by running the step once on zeros.
public final class HostFallback: @unchecked Sendable {
    public let target: ExecutionTarget
    /// Sessions by host-step model: the one made at planning (to learn the output shapes) is the
    /// one the run uses, not a second load of the same bytes.
    private let sessions = Mutex<[Data: SessionBox]>([:])

    /// A session held across threads: ONNX Runtime's runs are thread-safe.
    private final class SessionBox: @unchecked Sendable {
        let session: any Session
        init(_ session: any Session) { self.session = session }
    }

    public init(_ target: ExecutionTarget) { self.target = target }

    /// The session of a host step's model, made on first use.
    func session(_ model: Data, name: String) throws -> any Session {
        if let made = sessions.withLock({ $0[model] }) { return made.session }
        let made = SessionBox(try target.session(.bytes(model, name: name)))
        sessions.withLock { $0[model] = made }
        return made.session
    }
}

extension GraphLowering {
    /// The device tensor of `name`, uploading a host value of the run when that is where it lives.
    mutating func deviceTensor(_ name: String, for node: Node) throws(EngineError) -> Int {
        if let t = device[name] { return t }
        guard let (dtype, shape) = hostValues[name] else { throw EngineError.badInput("\(node.label): input '\(name)' is not computed") }
        guard dtype == .float32 || dtype == .float16 else {
            throw .refusing(node, "its input '\(name)' is \(dtype.name) data (the engine holds floats only)")
        }
        let staged = plan.add(PlannedTensor(name: name + ":up", shape: shape, dtype: dtype))
        plan.append(.transfer(Transfer(toHost: false, tensor: staged, value: name)), nodes: [])
        let inside = plan.add(PlannedTensor(name: name, shape: shape, layout: shape.count == 4 ? .nhwc : .rowMajor))
        try copy(from: staged, to: inside, kind: "upload", nodes: [])
        device[name] = inside
        return inside
    }

    /// Runs `node` on the fallback backend: its device inputs downloaded (FP32, row-major), its
    /// constants as initializers, its outputs host values of the run, their shapes found by running
    /// it once on zeros now.
    mutating func lowerOnHost(_ node: Node, why: EngineError) throws(EngineError) {
        guard let fallback else { throw why }
        var inputs: [ValueInfo] = [], initializers: [Initializer] = [], names: [String] = [], zeros: [String: Tensor] = [:]
        for name in Set(node.inputs.filter { !$0.isEmpty }).sorted() {
            if hostValues[name] == nil, let t = device[name] {
                // Download once; later host steps read the same host value.
                let tensor = plan.tensors[t]
                let staged = plan.add(PlannedTensor(name: name + ":down", shape: tensor.shape, dtype: .float32))
                try copy(from: t, to: staged, kind: "download", nodes: [])
                plan.append(.transfer(Transfer(toHost: true, tensor: staged, value: name)), nodes: [])
                hostValues[name] = (.float32, tensor.shape)
            }
            if let (dtype, shape) = hostValues[name] {
                inputs.append(ValueInfo(name: name, elementType: dtype, shape: shape.map { .fixed($0) }))
                names.append(name)
                do { zeros[name] = try Tensor(dtype: dtype, shape: try Shape(shape)) } catch { throw EngineError.badInput("\(node.label): \(error)") }
            } else if let weight = self.initializers[name], self.host[name] == nil {
                initializers.append(weight)  // as stored: any element type
            } else if let value = try hostValue(name) {
                initializers.append(Initializer(name: name, tensor: try value.tensor()))
            } else {
                throw EngineError.badInput("\(node.label): input '\(name)' is not computed")
            }
        }
        var proto = Onnx_ModelProto()
        proto.irVersion = modelHeader.irVersion
        proto.opsetImport = modelHeader.opsetImport
        let sub = Model(proto: proto)
        let outputs = node.outputs.filter { !$0.isEmpty }
        var outputInfo: [ValueInfo] = []
        for name in outputs {
            var p = Onnx_ValueInfoProto()
            p.name = name
            outputInfo.append(ValueInfo(proto: p))
        }
        sub.graph = Graph(name: "host-step", nodes: [Node(proto: node.message())], inputs: inputs, outputs: outputInfo, initializers: initializers)
        let bytes: Data
        do { bytes = try sub.serialized() } catch { throw EngineError.badInput("\(node.label): \(error)") }
        let results: [String: Tensor]
        do {
            results = try fallback.session(bytes, name: Self.name(node)).run(zeros)
        } catch {
            throw .refusing(node, "\(why) — and \(fallback.target.backend.name) cannot run it either: \(error)")
        }
        for name in outputs {
            guard let r = results[name] else { throw EngineError.badInput("\(node.label): the fallback gave no output '\(name)'") }
            hostValues[name] = (r.dtype, r.shape.dimensions)
        }
        plan.append(.host(HostStep(model: bytes, nodes: [Self.name(node)], inputs: names, outputs: outputs)), nodes: [Self.name(node)])
        placed([node], "host step \(plan.steps.count - 1)")
    }
}
