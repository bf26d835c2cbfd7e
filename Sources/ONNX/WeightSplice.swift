import FoundationEssentials
import SwiftProtobuf

/// The zero-copy path for a model's weights: the `raw_data` of the main graph's initializers and
/// of its nodes' tensor attributes (Constant nodes: how Paddle and some TensorFlow exports carry
/// their weights) bypasses protobuf's copying. Loading decodes a small "skeleton" (the file without
/// those fields) and attaches the weights as slices of the memory-mapped file; saving serialises
/// the skeleton and splices the weights back in, written straight from their buffers. The bytes
/// are exactly what protobuf itself would read and write (tested over every node test).
enum WeightSplice {
    static let graphField: UInt64 = 7        // ModelProto.graph
    static let nodeField: UInt64 = 1         // GraphProto.node
    static let initializerField: UInt64 = 5  // GraphProto.initializer
    static let attributeField: UInt64 = 5    // NodeProto.attribute
    static let tensorField: UInt64 = 5       // AttributeProto.t
    static let rawDataField: UInt64 = 9      // TensorProto.raw_data

    /// Below this, a tensor's bytes go through protobuf: rebuilding its messages costs more than
    /// the copy it saves.
    static let threshold = 256

    /// Where a spliced tensor sits: the n-th initializer, or the tensor attribute `attribute` of
    /// the `node`-th node (indices in the order of the repeated fields).
    enum Site: Hashable {
        case initializer(Int)
        case attribute(node: Int, attribute: Int)
    }

    /// Splits a serialized model into its skeleton and the raw_data slices it took out. nil when
    /// the model has too few such bytes or an unusual structure (then the plain protobuf path
    /// decodes it and reports any error).
    static func split(_ data: Data) -> (skeleton: Data, raw: [Site: Data])? {
        data.withUnsafeBytes { bytes -> (Data, [Site: Data])? in
            guard let top = WireFormat.fields(bytes, 0..<bytes.count) else { return nil }
            let graphs = top.filter { $0.number == graphField }
            guard graphs.count == 1, graphs[0].wireType == 2,
                  let graphFields = WireFormat.fields(bytes, graphs[0].payload) else { return nil }
            var raw: [Site: Data] = [:]
            var splitBytes = 0
            // Byte arrays with room reserved: appending piece by piece to a Data reallocated often
            // enough to show as the largest cost of loading a model made of many small tensors.
            var graphBody: [UInt8] = []
            graphBody.reserveCapacity(graphs[0].payload.count)
            var initializers = 0, nodes = 0
            for field in graphFields {
                var stripped: [UInt8]?
                switch field.number {
                case initializerField:
                    guard field.wireType == 2, let tensor = strippedTensor(bytes, field.payload) else { return nil }
                    if let (body, range) = tensor {
                        stripped = body
                        raw[.initializer(initializers)] = data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)]
                        splitBytes += range.count
                    }
                    initializers += 1
                case nodeField:
                    guard field.wireType == 2, let node = strippedNode(bytes, field.payload) else { return nil }
                    if let (body, ranges) = node {
                        stripped = body
                        for (attribute, range) in ranges {
                            raw[.attribute(node: nodes, attribute: attribute)] = data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)]
                            splitBytes += range.count
                        }
                    }
                    nodes += 1
                default: break
                }
                if let stripped {
                    graphBody.append(contentsOf: WireFormat.lengthDelimitedHeader(field: field.number, length: stripped.count))
                    graphBody.append(contentsOf: stripped)
                } else {
                    graphBody.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[field.range]))
                }
            }
            // Worth it only when these weights are most of the bytes: otherwise the skeleton is a
            // copy of almost the whole file, decoded again.
            guard splitBytes * 2 >= bytes.count else { return nil }
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
            return (Data(skeletonBytes), raw)
        }
    }

    /// The TensorProto in `bytes[range]` without its raw_data and where that was, or `.some(nil)`
    /// when it has none worth taking out; nil when malformed. Protobuf keeps the last of repeated
    /// singular fields, and so does this.
    private static func strippedTensor(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> ([UInt8], Range<Int>)?? {
        guard let fields = WireFormat.fields(bytes, range) else { return nil }
        guard let last = fields.lastIndex(where: { $0.number == rawDataField && $0.wireType == 2 }),
              fields[last].payload.count >= threshold else { return .some(nil) }
        var body: [UInt8] = []
        body.reserveCapacity(range.count - fields[last].payload.count)
        for f in fields where !(f.number == rawDataField && f.wireType == 2) {
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[f.range]))
        }
        return .some((body, fields[last].payload))
    }

    /// The NodeProto in `bytes[range]` without the raw_data of its tensor attributes, with those
    /// ranges by attribute index; `.some(nil)` when there is nothing to take out, nil when malformed.
    private static func strippedNode(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> ([UInt8], [(Int, Range<Int>)])?? {
        guard let fields = WireFormat.fields(bytes, range) else { return nil }
        var taken: [(Int, Range<Int>)] = []
        var replaced: [Int: [UInt8]] = [:]
        var attribute = 0
        for (i, f) in fields.enumerated() where f.number == attributeField {
            defer { attribute += 1 }
            guard f.wireType == 2, let attributeFields = WireFormat.fields(bytes, f.payload) else { return nil }
            let tensors = attributeFields.indices.filter { attributeFields[$0].number == tensorField }
            // Two `t` fields merge into one message in protobuf; leave such a file to protobuf.
            guard tensors.count == 1 else {
                if tensors.count > 1 { return nil }
                continue
            }
            let t = attributeFields[tensors[0]]
            guard t.wireType == 2, let tensor = strippedTensor(bytes, t.payload) else { return nil }
            guard let (tensorBody, rawRange) = tensor else { continue }
            var body: [UInt8] = []
            for (j, af) in attributeFields.enumerated() {
                if j == tensors[0] {
                    body.append(contentsOf: WireFormat.lengthDelimitedHeader(field: tensorField, length: tensorBody.count))
                    body.append(contentsOf: tensorBody)
                } else {
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[af.range]))
                }
            }
            replaced[i] = body
            taken.append((attribute, rawRange))
        }
        guard !taken.isEmpty else { return .some(nil) }
        var out: [UInt8] = []
        for (i, f) in fields.enumerated() {
            if let body = replaced[i] {
                out.append(contentsOf: WireFormat.lengthDelimitedHeader(field: attributeField, length: body.count))
                out.append(contentsOf: body)
            } else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[f.range]))
            }
        }
        return .some((out, taken))
    }

    /// Puts the slices of `split` back into the decoded skeleton; false if it does not fit.
    static func attach(_ raw: [Site: Data], to proto: inout Onnx_ModelProto) -> Bool {
        // Through a local graph: `proto.graph.initializer[i]` copies the graph per access.
        var graph = proto.graph
        proto.clearGraph()
        defer { proto.graph = graph }
        for (site, data) in raw {
            switch site {
            case .initializer(let i):
                guard i < graph.initializer.count else { return false }
                graph.initializer[i].rawData = data
            case .attribute(let n, let a):
                guard n < graph.node.count, a < graph.node[n].attribute.count, graph.node[n].attribute[a].hasT else { return false }
                graph.node[n].attribute[a].t.rawData = data
            }
        }
        return true
    }

    /// The serialized model as chunks whose large weights are the tensors' own buffers; nil when
    /// the model has no weights worth splicing (then serialise it whole). `inlineBytes`: the
    /// model's tensor bytes when the caller knows them (`ExternalData.inlineBytes`).
    static func chunks(_ proto: Onnx_ModelProto, inlineBytes: Int? = nil) throws -> [Data]? {
        guard proto.hasGraph else { return nil }
        var skeleton = proto
        var graph = skeleton.graph
        skeleton.clearGraph()
        var raw: [Site: Data] = [:]
        var spliced = 0
        var large = false
        for i in graph.initializer.indices where graph.initializer[i].rawData.count >= threshold {
            raw[.initializer(i)] = graph.initializer[i].rawData
            spliced += graph.initializer[i].rawData.count
            large = large || graph.initializer[i].rawData.count >= 1 << 16
            graph.initializer[i].clearRawData()
        }
        for n in graph.node.indices where graph.node[n].attribute.contains(where: { $0.t.rawData.count >= threshold }) {
            for a in graph.node[n].attribute.indices where graph.node[n].attribute[a].t.rawData.count >= threshold {
                raw[.attribute(node: n, attribute: a)] = graph.node[n].attribute[a].t.rawData
                spliced += graph.node[n].attribute[a].t.rawData.count
                large = large || graph.node[n].attribute[a].t.rawData.count >= 1 << 16
                graph.node[n].attribute[a].t.clearRawData()
            }
        }
        // As in `split`: only when these weights are most of the model.
        guard large, spliced * 2 >= inlineBytes ?? ExternalData.inlineBytes(proto) else { return nil }
        let splicedNodes = Set(raw.keys.compactMap { site -> Int? in
            if case .attribute(let n, _) = site { return n }
            return nil
        })
        skeleton.graph = graph
        let bytes: Data = try skeleton.serializedBytes(partial: true)
        return bytes.withUnsafeBytes { b -> [Data]? in
            guard let top = WireFormat.fields(b, 0..<b.count) else { return nil }
            var out = ChunkList()
            var placed = 0
            for field in top {
                guard field.number == graphField, let graphFields = WireFormat.fields(b, field.payload) else {
                    out.append(b[field.range])
                    continue
                }
                var graph = ChunkList()
                var initializers = 0, nodes = 0
                for g in graphFields {
                    switch g.number {
                    case initializerField:
                        defer { initializers += 1 }
                        guard let data = raw[.initializer(initializers)] else { break }
                        guard let tensor = splicedTensor(b, g.payload, data) else { return nil }
                        placed += 1
                        graph.append(WireFormat.lengthDelimitedHeader(field: initializerField, length: tensor.count)[...])
                        graph.append(tensor)
                        continue
                    case nodeField:
                        defer { nodes += 1 }
                        guard splicedNodes.contains(nodes) else { break }
                        guard let node = splicedNode(b, g.payload, node: nodes, raw, placed: &placed) else { return nil }
                        graph.append(WireFormat.lengthDelimitedHeader(field: nodeField, length: node.count)[...])
                        graph.append(node)
                        continue
                    default: break
                    }
                    graph.append(b[g.range])
                }
                out.append(WireFormat.lengthDelimitedHeader(field: graphField, length: graph.count)[...])
                out.append(graph)
            }
            return placed == raw.count ? out.finished() : nil
        }
    }

    /// The TensorProto in `b[range]` with `data` as its raw_data, where protobuf writes it: fields
    /// go in number order, unknown ones last, so before the first field numbered above it.
    private static func splicedTensor(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, _ data: Data) -> ChunkList? {
        guard let fields = WireFormat.fields(b, range) else { return nil }
        let split = fields.firstIndex { $0.number > rawDataField } ?? fields.count
        let before = split > 0 ? fields[0].range.lowerBound..<fields[split - 1].range.upperBound : range.lowerBound..<range.lowerBound
        let after = split < fields.count ? fields[split].range.lowerBound..<range.upperBound : range.upperBound..<range.upperBound
        var tensor = ChunkList()
        tensor.append(b[before])
        tensor.append(WireFormat.lengthDelimitedHeader(field: rawDataField, length: data.count)[...])
        tensor.appendLarge(data)
        tensor.append(b[after])
        return tensor
    }

    /// The NodeProto in `b[range]` with the raw_data of its spliced tensor attributes put back.
    private static func splicedNode(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, node: Int, _ raw: [Site: Data], placed: inout Int) -> ChunkList? {
        guard let fields = WireFormat.fields(b, range) else { return nil }
        var out = ChunkList()
        var attribute = 0
        for f in fields {
            guard f.number == attributeField else { out.append(b[f.range]); continue }
            defer { attribute += 1 }
            guard let data = raw[.attribute(node: node, attribute: attribute)] else { out.append(b[f.range]); continue }
            guard let attributeFields = WireFormat.fields(b, f.payload) else { return nil }
            var body = ChunkList()
            for af in attributeFields {
                guard af.number == tensorField, let tensor = splicedTensor(b, af.payload, data) else { body.append(b[af.range]); continue }
                body.append(WireFormat.lengthDelimitedHeader(field: tensorField, length: tensor.count)[...])
                body.append(tensor)
                placed += 1
            }
            out.append(WireFormat.lengthDelimitedHeader(field: attributeField, length: body.count)[...])
            out.append(body)
        }
        return out
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
