import CUDA
import Inference
import Tensors

/// A plan whose inputs and outputs stay on the GPU (seed 002: keep tensors on the device): another
/// stage writes the input regions and reads the output regions in device memory, ordered by
/// events, and a run is one graph launch on `stream` with no host synchronisation. Only a plan
/// with every node on the GPU binds this way; one lane of work owns a binding (runs are not
/// reentrant: they share the plan's arena).
///
/// ```swift
/// let binding = try session.deviceBinding(inputShapes: ["images": [64, 3, 416, 416]])
/// (binding.queue as! CUDAStream).wait(for: preprocessed)   // the input was written on another stream
/// try binding.enqueue()
/// ```
/// Its inputs' and outputs' memory is a CUDA `DeviceRegion` and its queue a `CUDAStream`.
final class EngineDeviceBinding: DeviceBinding, @unchecked Sendable {
    let plan: ExecutablePlan
    let device: Device
    let inputs: [String: DeviceTensor]
    let outputs: [String: DeviceTensor]
    var queue: any DeviceQueue { plan.stream }

    init(_ plan: ExecutablePlan, source: String, device: Device) throws(EngineError) {
        let hosted = plan.plan.placements.filter(\.isHostStep)
        guard hosted.isEmpty, plan.plan.hostInputs.isEmpty, plan.plan.hostOutputs.isEmpty else {
            let ops = Set(hosted.map(\.opType)).sorted().joined(separator: ", ")
            throw .badInput("\(source) cannot keep its data on the GPU: \(hosted.count) node(s) run on the host (\(ops)); "
                + "run it with host outputs (the plain session) instead")
        }
        self.plan = plan
        self.device = device
        func place(_ t: Int) -> DeviceTensor {
            let tensor = plan.plan.tensors[t]
            return DeviceTensor(memory: plan.region(t), dtype: tensor.dtype, shape: tensor.shape)
        }
        inputs = Dictionary(uniqueKeysWithValues: plan.plan.inputs.map { ($0.name, place($0.tensor)) })
        outputs = Dictionary(uniqueKeysWithValues: plan.plan.outputs.map { ($0.name, place($0.tensor)) })
    }

    /// Queues one run (the captured graph, or its launches) on `stream` and returns at once.
    func enqueue() throws {
        try plan.execute()
    }
}

extension EngineSession: DeviceResidentSession {
    /// The plan for these input shapes, bound to device memory (see `EngineDeviceBinding`).
    /// - Throws: `EngineError.badInput` when a node of the model runs on the host.
    public func bindOnDevice(inputShapes: [String: [Int]]) throws -> any DeviceBinding {
        try EngineDeviceBinding(executable(shapes: inputShapes), source: source, device: device)
    }
}

// CUDA's memory and streams are what the engine's bindings hand over the seam; the GPU lane
// (PipelineCUDA) reads them back.
extension DeviceRegion: DeviceMemory {}
extension CUDAStream: DeviceQueue {}
