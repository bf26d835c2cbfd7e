import Tensors

/// Memory on a device, opaque to the seam: the domain of that device reads it (a CUDA
/// `DeviceRegion` for a GPU lane). The seam says where a tensor lives, not how to reach it.
public protocol DeviceMemory: Sendable {}

/// A device's ordered queue of work (a CUDA stream), opaque likewise.
public protocol DeviceQueue: AnyObject, Sendable {}

/// One input or output of a device binding: where it lives, the model's type, row-major.
public struct DeviceTensor: Sendable {
    public let memory: any DeviceMemory
    public let dtype: DType
    public let shape: [Int]

    public init(memory: any DeviceMemory, dtype: DType, shape: [Int]) {
        self.memory = memory
        self.dtype = dtype
        self.shape = shape
    }
}

/// A model bound to device memory for fixed input shapes (seed 002: keep tensors on the device):
/// other stages on the same device write the inputs and read the outputs in place, ordered on
/// `queue`, and a run is queued there with no host synchronisation. One lane of work owns a
/// binding: runs share the plan's memory.
public protocol DeviceBinding: AnyObject, Sendable {
    var device: Device { get }
    var inputs: [String: DeviceTensor] { get }
    var outputs: [String: DeviceTensor] { get }
    /// The queue every run is queued on: work that writes an input goes before it there.
    var queue: any DeviceQueue { get }
    /// Queues one run on `queue` and returns at once.
    func enqueue() throws
}

extension Session {
    /// The model bound to device memory for these input shapes, where the backend keeps data on
    /// its device and every node of the model runs there.
    /// - Throws: `InferenceError.notOnDevice` saying why not (a host backend, a node on the host).
    public func deviceBinding(inputShapes: [String: [Int]]) throws -> any DeviceBinding {
        guard let resident = self as? any DeviceResidentSession else {
            throw InferenceError.notOnDevice("\(source) runs on \(device) with host inputs and outputs; it cannot keep its data on a device")
        }
        return try resident.bindOnDevice(inputShapes: inputShapes)
    }
}

/// A session whose backend can keep a run's data on its device (the CUDA engine).
public protocol DeviceResidentSession: Session {
    func bindOnDevice(inputShapes: [String: [Int]]) throws -> any DeviceBinding
}
