import FoundationEssentials
import SwiftProtobuf

/// The zero-copy path for a model's weights: the main graph's initializer `raw_data` (almost all
/// of a model's bytes) bypasses protobuf's copying. Loading decodes a small "skeleton" (the file
/// without those fields) and attaches the weights as slices of the memory-mapped file; saving
/// serialises the skeleton and splices the weights back in, written straight from their buffers.
/// The bytes are exactly what protobuf itself would read and write (tested over every node test).
enum WeightSplice {
    static let graphField: UInt64 = 7        // ModelProto.graph
    static let initializerField: UInt64 = 5  // GraphProto.initializer
    static let rawDataField: UInt64 = 9      // TensorProto.raw_data

    /// Splits a serialized model into its skeleton and, per main-graph initializer in order, the
    /// raw_data slice (nil where absent). nil when the model has no raw_data to split or its
    /// structure is unusual (then the plain protobuf path decodes it and reports any error).
    static func split(_ data: Data) -> (skeleton: Data, raw: [Data?])? {
        data.withUnsafeBytes { bytes -> (Data, [Data?])? in
            guard let top = WireFormat.fields(bytes, 0..<bytes.count) else { return nil }
            let graphs = top.filter { $0.number == graphField }
            guard graphs.count == 1, graphs[0].wireType == 2,
                  let graphFields = WireFormat.fields(bytes, graphs[0].payload) else { return nil }
            // Worth it only when initializers hold most of the bytes: in models whose weights are
            // Constant nodes the skeleton would be a copy of almost the whole file, decoded again.
            var splitBytes = 0
            for field in graphFields where field.number == initializerField && field.wireType == 2 {
                guard let tensorFields = WireFormat.fields(bytes, field.payload) else { return nil }
                for t in tensorFields where t.number == rawDataField && t.wireType == 2 { splitBytes += t.payload.count }
            }
            guard splitBytes * 2 >= bytes.count else { return nil }
            var raw: [Data?] = []
            // Byte arrays with room reserved: appending piece by piece to a Data reallocated often
            // enough to show as the largest cost of loading a model made of many small tensors.
            var graphBody: [UInt8] = []
            graphBody.reserveCapacity(graphs[0].payload.count)
            var body: [UInt8] = []
            for field in graphFields {
                guard field.number == initializerField else {
                    graphBody.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[field.range]))
                    continue
                }
                guard field.wireType == 2, let tensorFields = WireFormat.fields(bytes, field.payload) else { return nil }
                body.removeAll(keepingCapacity: true)
                var slice: Data?
                for t in tensorFields {
                    if t.number == rawDataField && t.wireType == 2 {
                        slice = data[(data.startIndex + t.payload.lowerBound)..<(data.startIndex + t.payload.upperBound)]
                    } else {
                        body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[t.range]))
                    }
                }
                raw.append(slice)
                graphBody.append(contentsOf: WireFormat.lengthDelimitedHeader(field: initializerField, length: body.count))
                graphBody.append(contentsOf: body)
            }
            guard raw.contains(where: { $0 != nil }) else { return nil }
            var skeletonBytes: [UInt8] = []
            skeletonBytes.reserveCapacity(graphBody.count + 64)
            for field in top {
                if field.number == graphField {
                    skeletonBytes.append(contentsOf: WireFormat.lengthDelimitedHeader(field: graphField, length: graphBody.count))
                    skeletonBytes.append(contentsOf: graphBody)
                } else {
                    skeletonBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[field.range]))
                }
            }
            let skeleton = Data(skeletonBytes)
            return (skeleton, raw)
        }
    }

    /// The serialized model as chunks whose large weights are the tensors' own buffers; nil when
    /// the model has no weights worth splicing (then serialise it whole).
    static func chunks(_ proto: Onnx_ModelProto) throws -> [Data]? {
        guard proto.hasGraph, proto.graph.initializer.contains(where: { $0.rawData.count >= 1 << 16 }) else { return nil }
        // As in `split`: only when the initializers' raw data is most of the model.
        let spliced = proto.graph.initializer.reduce(0) { $0 + $1.rawData.count }
        guard spliced * 2 >= ExternalData.inlineBytes(proto) else { return nil }
        var skeleton = proto
        var raw: [Data?] = []
        // Through a local graph: `skeleton.graph.initializer[i]` copies the graph message on every
        // access (quadratic in the number of initializers).
        var graph = skeleton.graph
        skeleton.clearGraph()
        for i in graph.initializer.indices {
            raw.append(graph.initializer[i].hasRawData ? graph.initializer[i].rawData : nil)
            graph.initializer[i].clearRawData()
        }
        skeleton.graph = graph
        let bytes: Data = try skeleton.serializedBytes(partial: true)
        return bytes.withUnsafeBytes { b -> [Data]? in
            guard let top = WireFormat.fields(b, 0..<b.count) else { return nil }
            var out = ChunkList()
            for field in top {
                guard field.number == graphField, let graphFields = WireFormat.fields(b, field.payload) else {
                    out.append(b[field.range])
                    continue
                }
                var graph = ChunkList()
                var k = 0
                for g in graphFields {
                    guard g.number == initializerField, let tensorFields = WireFormat.fields(b, g.payload), k < raw.count else {
                        graph.append(b[g.range])
                        continue
                    }
                    // protobuf writes fields in number order, unknown ones last: raw_data goes
                    // before the first field numbered above it.
                    let split = tensorFields.firstIndex { $0.number > rawDataField } ?? tensorFields.count
                    let before = split > 0 ? tensorFields[0].range.lowerBound..<tensorFields[split - 1].range.upperBound : g.payload.lowerBound..<g.payload.lowerBound
                    let after = split < tensorFields.count ? tensorFields[split].range.lowerBound..<g.payload.upperBound : g.payload.upperBound..<g.payload.upperBound
                    var tensor = ChunkList()
                    tensor.append(b[before])
                    if let r = raw[k] {
                        tensor.append(WireFormat.lengthDelimitedHeader(field: rawDataField, length: r.count)[...])
                        tensor.appendLarge(r)
                    }
                    tensor.append(b[after])
                    k += 1
                    graph.append(WireFormat.lengthDelimitedHeader(field: initializerField, length: tensor.count)[...])
                    graph.append(tensor)
                }
                guard k == raw.count else { return nil }
                out.append(WireFormat.lengthDelimitedHeader(field: graphField, length: graph.count)[...])
                out.append(graph)
            }
            return out.finished()
        }
    }
}

/// Output built from small copied pieces and large borrowed buffers, in order.
private struct ChunkList {
    private(set) var chunks: [Data] = []
    private var pending = Data()
    private(set) var count = 0

    mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        count += bytes.count
    }

    mutating func appendLarge(_ data: Data) {
        if data.count < 4096 { append(data); return }
        flush()
        chunks.append(data)
        count += data.count
    }

    mutating func append(_ other: ChunkList) {
        for c in other.finished() {
            if c.count >= 4096 { appendLarge(c) } else { append(c) }
        }
    }

    private mutating func flush() {
        if !pending.isEmpty { chunks.append(pending); pending = Data() }
    }

    func finished() -> [Data] {
        pending.isEmpty ? chunks : chunks + [pending]
    }
}
