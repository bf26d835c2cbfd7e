import CUDA
import Tensors

/// A plan whose inputs and outputs stay on the GPU (seed 002: keep tensors on the device): another
/// stage writes the input regions and reads the output regions in device memory, ordered by
/// events, and a run is one graph launch on `stream` with no host synchronisation. Only a plan
/// with every node on the GPU binds this way; one lane of work owns a binding (runs are not
/// reentrant: they share the plan's arena).
///
/// ```swift
/// let binding = try session.deviceBinding(inputShapes: ["images": [64, 3, 416, 416]])
/// binding.stream.wait(for: preprocessed)   // the input region was written on another stream
/// try binding.enqueue()
/// ```
public final class EngineDeviceBinding: @unchecked Sendable {
    /// Where one input or output lives: the model's type, row-major, in the plan's arena.
    public struct Place: Sendable {
        public let region: DeviceRegion
        public let dtype: DType
        public let shape: [Int]
    }

    let plan: ExecutablePlan
    public let inputs: [String: Place]
    public let outputs: [String: Place]
    /// The stream every run is queued on.
    public var stream: CUDAStream { plan.stream }
    public var context: CUDAContext { plan.context }

    init(_ plan: ExecutablePlan, source: String) throws(EngineError) {
        let hosted = plan.plan.placements.filter(\.isHostStep)
        guard hosted.isEmpty, plan.plan.hostInputs.isEmpty, plan.plan.hostOutputs.isEmpty else {
            let ops = Set(hosted.map(\.opType)).sorted().joined(separator: ", ")
            throw .badInput("\(source) cannot keep its data on the GPU: \(hosted.count) node(s) run on the host (\(ops)); "
                + "run it with host outputs (the plain session) instead")
        }
        self.plan = plan
        func place(_ t: Int) -> Place {
            let tensor = plan.plan.tensors[t]
            return Place(region: plan.region(t), dtype: tensor.dtype, shape: tensor.shape)
        }
        inputs = Dictionary(uniqueKeysWithValues: plan.plan.inputs.map { ($0.name, place($0.tensor)) })
        outputs = Dictionary(uniqueKeysWithValues: plan.plan.outputs.map { ($0.name, place($0.tensor)) })
    }

    /// Queues one run (the captured graph, or its launches) on `stream` and returns at once.
    public func enqueue() throws {
        try plan.execute()
    }
}

extension EngineSession {
    /// The plan for these input shapes, bound to device memory (see `EngineDeviceBinding`).
    /// - Throws: `EngineError.badInput` when a node of the model runs on the host.
    public func deviceBinding(inputShapes: [String: [Int]]) throws -> EngineDeviceBinding {
        try EngineDeviceBinding(executable(shapes: inputShapes), source: source)
    }
}
