import ONNX
import Tensors

/// Folds image preprocessing into the model: a float32 image input becomes a raw uint8 NHWC input,
/// and the graph does the Cast, the scaling (x·scale − mean)/std per channel and the move to NCHW
/// itself. Done before conversion, so the conversion makes the Cast produce float16 and the
/// arithmetic after it run in float16 (the accepted answer of the seed thread: no float32 image
/// batch ever exists on the host).
public struct InputFolding: Sendable, Equatable {
    public var input: String
    public var scale: Float = 1.0 / 255
    /// Per channel, in the model's channel order (or one value for all).
    public var mean: [Float] = [0]
    public var std: [Float] = [1]

    public init(input: String) { self.input = input }

    /// Parses `name[:scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225]`; a bare number after
    /// `mean=`/`std=` continues that list, `imagenet` names ImageNet's mean or std, and `a/b` is a fraction.
    public init(parsing text: String) throws(PrecisionError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let name = parts.first, !name.isEmpty else { throw .badOption("--input-uint8-nhwc '\(text)': give the input's name, e.g. images:scale=1/255") }
        input = name
        guard parts.count == 2 else { return }
        var key = ""
        var lists: [String: [Float]] = [:]
        for token in parts[1].split(separator: ",").map(String.init) {
            var valueText = token
            if let eq = token.firstIndex(of: "=") {
                key = String(token[..<eq])
                valueText = String(token[token.index(after: eq)...])
                guard ["scale", "mean", "std"].contains(key) else {
                    throw .badOption("--input-uint8-nhwc '\(text)': unknown key '\(key)'; use scale=, mean=, std=")
                }
            } else if key.isEmpty {
                throw .badOption("--input-uint8-nhwc '\(text)': '\(token)' has no key; use scale=, mean=, std=")
            }
            if valueText == "imagenet" && key != "scale" {
                lists[key, default: []] += key == "mean" ? [0.485, 0.456, 0.406] : [0.229, 0.224, 0.225]
                continue
            }
            guard let v = Self.number(valueText) else { throw .badOption("--input-uint8-nhwc '\(text)': '\(valueText)' is not a number") }
            lists[key, default: []].append(v)
        }
        if let s = lists["scale"] {
            guard s.count == 1 else { throw .badOption("--input-uint8-nhwc '\(text)': scale takes one number") }
            scale = s[0]
        }
        if let m = lists["mean"] { mean = m }
        if let s = lists["std"] {
            guard !s.contains(0) else { throw .badOption("--input-uint8-nhwc '\(text)': std must not be 0") }
            std = s
        }
    }

    private static func number(_ text: String) -> Float? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let a = Float(parts[0]), let b = Float(parts[1]), b != 0 { return a / b }
        return parts.count == 1 ? Float(text) : nil
    }

    /// Rewrites `model`; returns a one-line description.
    public func apply(to model: Model) throws(PrecisionError) -> String {
        let graph = model.graph
        guard let index = graph.inputs.firstIndex(where: { $0.name == input }) else {
            throw .badOption("--input-uint8-nhwc: the model has no input '\(input)'; its inputs are \(graph.inputs.map(\.name).joined(separator: ", "))")
        }
        let declared = graph.inputs[index]
        guard !graph.outputs.contains(where: { $0.name == input }) else {
            throw .badOption("--input-uint8-nhwc: input '\(input)' is also a graph output; folding would change that output")
        }
        guard declared.elementType == .float32 else {
            throw .badOption("--input-uint8-nhwc: input '\(input)' is \(declared.elementType?.name ?? "untyped"), not float32")
        }
        guard let shape = declared.shape, shape.count == 4 else {
            throw .badOption("--input-uint8-nhwc: input '\(input)' must be a 4-D image batch; it is \(declared.shape.map { "\($0)" } ?? "of unknown rank")")
        }
        // NCHW unless the last axis is the small one.
        let nchw: Bool
        switch (shape[1], shape[3]) {
        case (.fixed(let c), _) where c <= 4: nchw = true
        case (_, .fixed(let c)) where c <= 4: nchw = false
        default: nchw = true
        }
        let channelDim = nchw ? shape[1] : shape[3]
        let channels: Int
        if case .fixed(let c) = channelDim { channels = c } else { channels = max(mean.count, std.count) }
        guard [1, channels].contains(mean.count), [1, channels].contains(std.count) else {
            throw .badOption("--input-uint8-nhwc: the input has \(channels) channels; give 1 or \(channels) values for mean and std")
        }
        let count = max(mean.count, std.count)
        let a = (0..<count).map { scale / std[std.count == 1 ? 0 : $0] }
        let b = (0..<count).map { -mean[mean.count == 1 ? 0 : $0] / std[std.count == 1 ? 0 : $0] }

        var names = UniqueNames(model)
        let cast = names.make("\(input)_float"), scaled = names.make("\(input)_scaled"), shifted = names.make("\(input)_normalized")
        let aName = names.make("\(input)_scale"), bName = names.make("\(input)_shift")
        let result = nchw ? names.make("\(input)_nchw") : shifted
        // Everything that read the float input now reads the normalized one.
        graph.renameValue(input, to: result)
        graph.inputs[index] = ValueInfo(name: input, elementType: .uint8,
                                        shape: nchw ? [shape[0], shape[2], shape[3], shape[1]] : shape)
        graph.initializers.removeAll { $0.name == result }
        var nodes: [Node] = [
            Node(opType: "Cast", name: names.make("Cast_" + cast), inputs: [input], outputs: [cast], attributes: [.type("to", .float32)]),
            Node(opType: "Mul", name: names.make("Mul_" + scaled), inputs: [cast, aName], outputs: [scaled]),
            Node(opType: "Add", name: names.make("Add_" + shifted), inputs: [scaled, bName], outputs: [shifted]),
        ]
        if nchw {
            var perm = Onnx_AttributeProto()
            perm.name = "perm"
            perm.type = .ints
            perm.ints = [0, 3, 1, 2]
            nodes.append(Node(opType: "Transpose", name: names.make("Transpose_" + result), inputs: [shifted], outputs: [result], attributes: [Attribute(proto: perm)]))
        }
        graph.nodes.insert(contentsOf: nodes, at: 0)
        do {
            graph.initializers.append(Initializer(name: aName, tensor: try Tensor(shape: Shape([count]), elements: a)))
            graph.initializers.append(Initializer(name: bName, tensor: try Tensor(shape: Shape([count]), elements: b)))
        } catch {
            throw .badOption("--input-uint8-nhwc: \(error)")
        }
        let layout = nchw ? ", then NHWC → NCHW" : ""
        return "input '\(input)' now takes uint8 NHWC images: Cast, ×\(a.map { shortNumber(Double($0)) }.joined(separator: "/")), +\(b.map { shortNumber(Double($0)) }.joined(separator: "/"))\(layout) inside the graph"
    }
}
