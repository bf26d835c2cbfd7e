import FoundationEssentials
import SwiftProtobuf
import Tensors

extension Model {
    /// Loads the model at `path`, with its external data unless `loadExternalData` is false.
    ///
    /// Truncated files, random bytes, other file types, broken external data and impossible tensor
    /// shapes all give an `ONNXError` naming the file; nothing here crashes or hangs on bad input.
    public static func load(contentsOf path: String, loadExternalData: Bool = true) throws(ONNXError) -> Model {
        let data: Data
        do { data = try FileBytes.read(path) } catch { throw .io(path: path, reason: Self.reason(error)) }
        var proto = try decode(data, path: path)
        if loadExternalData { try ExternalData.resolve(&proto, modelPath: path) }
        return Model(proto: proto)
    }

    /// The metadata (`metadata_props`) of the model file at `path`, read without decoding the
    /// graph: what an exporter wrote about it (Ultralytics' `imgsz`, `names`, `stride`).
    public static func metadata(ofFileAt path: String) throws(ONNXError) -> [(key: String, value: String)] {
        let data: Data
        do { data = try FileBytes.read(path) } catch { throw .io(path: path, reason: Self.reason(error)) }
        let entries: [Onnx_StringStringEntryProto]? = data.withUnsafeBytes { bytes in
            guard let fields = WireFormat.fields(bytes, 0..<bytes.count) else { return nil }
            // Field 14 of ModelProto: metadata_props, one StringStringEntryProto each.
            return fields.filter { $0.number == 14 && $0.wireType == 2 }.compactMap {
                try? Onnx_StringStringEntryProto(serializedBytes: Data(bytes[$0.payload]))
            }
        }
        guard let entries else { throw .malformed(path: path, reason: "protobuf decoding failed; the file is truncated, corrupt or of another type") }
        return entries.map { ($0.key, $0.value) }
    }

    /// Parses a serialized ModelProto; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws(ONNXError) -> Onnx_ModelProto {
        guard !data.isEmpty else { throw .malformed(path: path, reason: "the file is empty") }
        var proto: Onnx_ModelProto
        do {
            // Weights stay in the (mapped) file; only the rest goes through protobuf.
            if let (skeleton, raw) = WeightSplice.split(data),
               var decoded = try? Onnx_ModelProto(serializedBytes: skeleton),
               WeightSplice.attach(raw, to: &decoded) {
                proto = decoded
            } else {
                proto = try Onnx_ModelProto(serializedBytes: data)
            }
        } catch {
            throw .malformed(path: path, reason: "protobuf decoding failed (\(error)); the file is truncated, corrupt or of another type")
        }
        // Arbitrary bytes sometimes parse as a protobuf made only of unknown fields.
        guard proto.hasIrVersion || proto.hasGraph else {
            throw .malformed(path: path, reason: "no ir_version and no graph; this is not an ONNX model")
        }
        try checkTensorShapes(proto, path: path)
        return proto
    }

    /// Rejects negative or absurd dimensions, and data sizes that disagree with them, up front.
    private static func checkTensorShapes(_ model: Onnx_ModelProto, path: String) throws(ONNXError) {
        try TensorWalk.forEach(model) { (tensor) throws(ONNXError) in
            var count = 1
            for d in tensor.dims {
                guard d >= 0 else { throw .malformed(path: path, reason: "tensor '\(tensor.name)' has negative dimension \(d) in \(tensor.dims)") }
                let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
                guard !overflow, p <= 1 << 50 else { throw .malformed(path: path, reason: "tensor '\(tensor.name)' has absurd dimensions \(tensor.dims)") }
                count = p
            }
            if tensor.hasRawData, let dtype = DType(rawValue: tensor.dataType), let bytes = dtype.byteCount(elements: count), bytes != tensor.rawData.count {
                throw .malformed(path: path, reason: "tensor '\(tensor.name)' has \(tensor.rawData.count) bytes of raw_data; dims \(tensor.dims) of \(dtype) need \(bytes)")
            }
        }
    }

    /// The model serialized with everything inline.
    public func serialized() throws(ONNXError) -> Data {
        try Self.serialize(message(), what: "model")
    }

    /// Saves atomically to `path` (temporary file, then rename); external data per `policy`.
    /// `commitIf` runs before anything takes its final name (with external data, before anything
    /// is written): false abandons the save, leaving nothing behind, and the call returns false.
    @discardableResult
    public func save(to path: String, externalData policy: ExternalDataPolicy = .automatic,
                     commitIf: () -> Bool = { true }) throws(ONNXError) -> Bool {
        var proto = message()
        // One walk over the tensors, for the policy, the 2 GB check and the weight splice.
        let inlineBytes = ExternalData.inlineBytes(proto)
        var separate: (file: String, threshold: Int)?
        switch policy {
        case .embed: separate = nil
        case .separateFile(let file, let threshold): separate = (file ?? Self.defaultDataFileName(path), threshold)
        case .automatic:
            if inlineBytes > ExternalDataPolicy.embedLimit { separate = (Self.defaultDataFileName(path), 1024) }
        }
        if let separate {
            guard commitIf() else { return false }
            guard !separate.file.contains(Character("/")) else { throw .unsupported("external data file '\(separate.file)' must be a plain file name beside the model") }
            let blob = try ExternalData.externalize(&proto, location: separate.file, threshold: separate.threshold)
            let dataPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(separate.file).path
            do { try FileBytes.writeAtomically(blob, to: dataPath) } catch { throw .io(path: dataPath, reason: Self.reason(error)) }
        } else if inlineBytes > ExternalDataPolicy.embedLimit {
            throw .unsupported("\(path): the model holds over 2 GB of tensors, more than a protobuf file can; save with external data")
        }
        let chunks: [Data]
        do {
            chunks = try WeightSplice.chunks(proto, inlineBytes: separate == nil ? inlineBytes : nil) ?? [try Self.serialize(proto, what: path)]
        } catch let error as ONNXError {
            throw error
        } catch {
            throw .unsupported("\(path): cannot serialize (\(error))")
        }
        do {
            return try FileBytes.writeAtomically(chunks: chunks, to: path, commitIf: separate == nil ? commitIf : { true })
        } catch {
            throw .io(path: path, reason: Self.reason(error))
        }
    }

    private static func serialize(_ proto: Onnx_ModelProto, what: String) throws(ONNXError) -> Data {
        do {
            return try proto.serializedBytes(partial: true)
        } catch {
            throw .unsupported("\(what): cannot serialize (\(error)); models over 2 GB need external data")
        }
    }

    static func defaultDataFileName(_ modelPath: String) -> String {
        URL(fileURLWithPath: modelPath).lastPathComponent + ".data"
    }

    private static func reason(_ error: TensorError) -> String {
        if case .io(_, let why) = error { return why }
        return "\(error)"
    }
}
