import FoundationEssentials
import ONNX
import Tensors

/// The values of a graph that are known before it runs: initializers that are not graph inputs
/// (an input may override its initializer), and outputs of `Constant` nodes with a tensor value.
struct ConstantValues {
    private var initializers: [String: Initializer] = [:]
    private var constantNodes: [String: Onnx_TensorProto] = [:]

    init(_ graph: Graph) {
        let inputs = Set(graph.inputs.map(\.name))
        // Sized up front: growing these tables rehashed every name several times.
        initializers.reserveCapacity(graph.initializers.count)
        constantNodes.reserveCapacity(graph.nodes.count)
        for i in graph.initializers where !inputs.contains(i.name) { initializers[i.name] = i }
        for node in graph.nodes where node.opType == "Constant" && node.canonicalDomain == "ai.onnx" {
            if let value = node[attribute: "value"]?.tensor, let out = node.outputs.first { constantNodes[out] = value }
        }
    }

    /// Lets the kernel drop the file pages under an initializer's bytes (see `FileBytes.releasePages`).
    func releasePages(of name: String) {
        if let i = initializers[name], i.proto.hasRawData { FileBytes.releasePages(of: i.proto.rawData) }
    }

    /// How many elements the float32 constant `name` holds; nil when it is not one.
    func float32ElementCount(_ name: String) -> Int? {
        let proto: Onnx_TensorProto
        if let i = initializers[name] { proto = i.proto } else if let c = constantNodes[name] { proto = c } else { return nil }
        guard proto.dataType == Int32(DType.float32.rawValue) else { return nil }
        return proto.dims.reduce(1) { $0 * Int($1) }
    }

    /// The dimensions of the constant `name`; nil when it is not a constant.
    func dimensions(_ name: String) -> [Int]? {
        if let i = initializers[name] { return i.dims }
        return constantNodes[name].map { $0.dims.map(Int.init) }
    }

    /// The float32 bytes of `name` as stored (raw_data shares the model's buffer; float_data is
    /// packed into bytes), with its dimensions; nil when it is not a float32 constant.
    func float32Bytes(_ name: String) -> (bytes: Data, dims: [Int])? {
        let proto: Onnx_TensorProto
        if let i = initializers[name] { proto = i.proto } else if let c = constantNodes[name] { proto = c } else { return nil }
        guard proto.dataType == Int32(DType.float32.rawValue), proto.dataLocation != .external else { return nil }
        let dims = proto.dims.map(Int.init)
        if proto.hasRawData { return (proto.rawData, dims) }
        return (proto.floatData.withUnsafeBytes { Data($0) }, dims)
    }

    /// The float32 values of `name`, with its dimensions; nil when it is not a float32 constant.
    func float32(_ name: String) -> (values: [Float], dims: [Int])? {
        let proto: Onnx_TensorProto
        if let i = initializers[name] { proto = i.proto } else if let c = constantNodes[name] { proto = c } else { return nil }
        guard proto.dataType == Int32(DType.float32.rawValue), proto.dataLocation != .external else { return nil }
        let count = proto.dims.reduce(1) { $0 * Int($1) }
        let dims = proto.dims.map(Int.init)
        // Straight from the bytes: one copy (decoding to a Tensor and then to an array made two).
        if proto.hasRawData {
            guard proto.rawData.count == count * 4 else { return nil }
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, n in
                _ = proto.rawData.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
                n = count
            }
            return (values, dims)
        }
        return proto.floatData.count == count ? (proto.floatData, dims) : nil
    }
}
