import FoundationEssentials
import Tensors

/// How a saved model keeps its tensor bytes.
public enum ExternalDataPolicy: Sendable, Equatable {
    /// Everything inside the .onnx file (fails above protobuf's 2 GB limit).
    case embed
    /// Tensors of at least `threshold` bytes go to `file` beside the model (default: "<model>.data").
    case separateFile(String? = nil, threshold: Int = 1024)
    /// Embed unless the model would come near 2 GB; then a separate file.
    case automatic

    /// protobuf refuses messages of 2 GiB or more; keep a margin for the graph itself.
    static let embedLimit = 1_800_000_000
}

/// Reading and writing tensor data kept outside the .onnx file (`data_location = EXTERNAL`,
/// `external_data` = location / offset / length), as the ONNX spec defines it.
enum ExternalData {
    /// Loads every external tensor's bytes into `raw_data` (as `onnx.load` does).
    static func resolve(_ model: inout Onnx_ModelProto, modelPath: String) throws(ONNXError) {
        // Nearly every model keeps its data inline: look before walking with inout (which copies).
        var anyExternal = false
        try TensorWalk.forEach(model) { (tensor) throws(ONNXError) in if tensor.dataLocation == .external { anyExternal = true } }
        guard anyExternal else { return }
        let directory = URL(fileURLWithPath: modelPath).deletingLastPathComponent()
        var files: [String: Data] = [:]
        try TensorWalk.visit(&model) { (tensor) throws(ONNXError) in
            guard tensor.dataLocation == .external else { return }
            let entries = Dictionary(tensor.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            func fail(_ why: String) -> ONNXError { .externalData(path: modelPath, tensor: tensor.name, reason: why) }
            guard let location = entries["location"], !location.isEmpty else { throw fail("no 'location' given") }
            // The spec requires a path relative to the model's folder that stays inside it.
            let parts = location.split(separator: "/", omittingEmptySubsequences: true)
            guard !location.hasPrefix("/"), !parts.contains("..") else {
                throw fail("location '\(location)' leaves the model's folder; external data must sit beside the model")
            }
            let file = directory.appendingPathComponent(location).path
            if files[file] == nil {
                do { files[file] = try FileBytes.read(file) } catch { throw fail("cannot read '\(location)' (\(error)); keep the data file beside the model") }
            }
            let data = files[file]!
            let offset = Int(entries["offset"] ?? "0") ?? -1
            guard offset >= 0, offset <= data.count else { throw fail("offset \(entries["offset"] ?? "") is outside '\(location)' (\(data.count) bytes)") }
            let length = entries["length"].map { Int($0) ?? -1 } ?? (data.count - offset)
            guard length >= 0, offset + length <= data.count else {
                throw fail("bytes \(offset)..<\(offset + length) are outside '\(location)' (\(data.count) bytes); the data file is truncated or belongs to another model")
            }
            tensor.rawData = data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + length))
            tensor.externalData = []
            tensor.clearDataLocation()
        }
    }

    /// Moves tensors of at least `threshold` bytes into one data file; returns its bytes.
    static func externalize(_ model: inout Onnx_ModelProto, location: String, threshold: Int) throws(ONNXError) -> Data {
        var blob = Data()
        try TensorWalk.visit(&model) { (tensor) throws(ONNXError) in
            guard tensor.hasRawData, tensor.rawData.count >= threshold else { return }
            // 64-byte alignment lets readers map tensors straight into aligned memory.
            let pad = (64 - blob.count % 64) % 64
            blob.append(Data(count: pad))
            let offset = blob.count
            blob.append(tensor.rawData)
            tensor.externalData = [entry("location", location), entry("offset", String(offset)), entry("length", String(tensor.rawData.count))]
            tensor.dataLocation = .external
            tensor.clearRawData()
        }
        return blob
    }

    /// Bytes of tensor data the model holds inline, to decide whether it can be embedded.
    static func inlineBytes(_ model: Onnx_ModelProto) -> Int {
        var total = 0
        try? TensorWalk.forEach(model) { (tensor) throws(ONNXError) in
            // Summed term by term: one long mixed expression takes the type checker minutes.
            var bytes: Int = tensor.rawData.count
            bytes += 4 * tensor.floatData.count
            bytes += 4 * tensor.int32Data.count
            bytes += 8 * tensor.int64Data.count
            bytes += 8 * tensor.doubleData.count
            bytes += 8 * tensor.uint64Data.count
            for s in tensor.stringData { bytes += s.count }
            total += bytes
        }
        return total
    }

    private static func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
        var e = Onnx_StringStringEntryProto()
        e.key = key
        e.value = value
        return e
    }
}

extension Model {
    /// Bytes of tensor data the model holds in initializers and Constant nodes (every graph), for
    /// size reports; read from the IR, without building the message.
    public var tensorDataBytes: Int {
        var total = 0
        func bytes(_ t: Onnx_TensorProto) -> Int {
            if t.hasRawData { return t.rawData.count }
            let count = t.dims.reduce(1) { $0 * Int($1) }
            return DType(rawValue: t.dataType)?.byteCount(elements: count) ?? 0
        }
        for graph in allGraphs {
            for i in graph.initializers { total += bytes(i.proto) }
            for node in graph.nodes where node.opType == "Constant" { if let t = node[attribute: "value"]?.tensor { total += bytes(t) } }
        }
        return total
    }
}
