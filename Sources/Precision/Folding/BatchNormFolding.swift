import FoundationEssentials
import ONNX
import Tensors

/// Folds each inference-mode BatchNormalization into the Conv, ConvTranspose (group 1) or Gemm
/// that feeds it, computing the new weights in float64: y = (x - mean) / sqrt(var + eps) * scale + B
/// becomes part of the layer's weights and bias. This is done in full precision before any FP16
/// conversion: the running variances it removes (up to ~1e8 in the PP-OCRv4 detector) are what an
/// FP16 cast clamps and breaks.
public enum BatchNormFolding {
    public struct Fold: Sendable, Equatable {
        public let batchNorm: String
        public let into: String
        public let opType: String
    }

    /// Rewrites `model` in place (every graph, nested ones too); returns what was folded.
    @discardableResult
    public static func apply(to model: Model) -> [Fold] {
        apply(to: model, deferring: nil)
    }

    /// With `deferring`, the main graph's new weights are left as the old bytes and their scaling
    /// goes into the table, for the conversion to apply while it narrows them.
    static func apply(to model: Model, deferring pending: PendingScales?) -> [Fold] {
        var names = UniqueNames(model)
        return model.allGraphs.enumerated().flatMap { i, graph in fold(graph, names: &names, deferring: i == 0 ? pending : nil) }
    }

    static func fold(_ graph: Graph, names: inout UniqueNames, deferring pending: PendingScales?) -> [Fold] {
        var folds: [Fold] = []
        // One snapshot of uses and constants: a fold only rewires its own layer, so the snapshot
        // stays right for every other BatchNormalization (a BN after a folded BN sees a BN as its
        // producer in the snapshot and is left alone, which is the safe answer).
        let constants = ConstantValues(graph)
        let defUse = DefUse(graph)
        let outputs = Set(graph.outputs.map(\.name))
        var removed = Set<ObjectIdentifier>()
        for bn in graph.nodes where bn.opType == "BatchNormalization" && bn.canonicalDomain == "ai.onnx" {
            guard let layer = foldableLayer(for: bn, defUse: defUse, graphOutputs: outputs),
                  let folded = newWeights(layer: layer, bn: bn, constants: constants, scaleNow: pending == nil) else { continue }
            let base = (layer.name.isEmpty ? layer.outputs[0] : layer.name) + ".bn_folded"
            let weightName = names.make(base + ".weight"), biasName = names.make(base + ".bias")
            if let scale = folded.pending {
                pending?.byName[weightName] = scale
            } else {
                // The old weights are read: drop their file pages now, not after the last fold.
                constants.releasePages(of: layer.inputs[1])
            }
            let weight = Initializer(proto: tensorProto(name: weightName, dims: folded.weight.dims, raw: folded.weight.data))
            let bias = Initializer(proto: tensorProto(name: biasName, dims: folded.bias.dims, raw: folded.bias.values.withUnsafeBytes { Data($0) }))
            graph.initializers.append(weight)
            graph.initializers.append(bias)
            var inputs = layer.inputs
            inputs[1] = weightName
            if inputs.count < 3 { inputs.append(biasName) } else { inputs[2] = biasName }
            layer.proto.input = inputs
            if layer.opType == "Gemm" {
                layer.attributes.removeAll { $0.name == "beta" }  // the folded bias already carries it
            }
            // The layer now produces what the BatchNormalization produced; consumers are unchanged.
            layer.proto.output[0] = bn.outputs[0]
            removed.insert(ObjectIdentifier(bn))
            folds.append(Fold(batchNorm: bn.name.isEmpty ? bn.outputs[0] : bn.name, into: layer.label, opType: layer.opType))
        }
        if !folds.isEmpty {
            graph.nodes.removeAll { removed.contains(ObjectIdentifier($0)) }
            UnusedConstants.remove(from: graph, releasing: pending == nil)
        }
        return folds
    }

    /// The Conv/ConvTranspose/Gemm whose only consumer is `bn`, when `bn` is in inference mode and
    /// uses nothing but its first output.
    private static func foldableLayer(for bn: Node, defUse: DefUse, graphOutputs: Set<String>) -> Node? {
        guard bn.inputs.count == 5, (bn[attribute: "training_mode"]?.int ?? 0) == 0,
              bn.outputs.dropFirst().allSatisfy({ $0.isEmpty || defUse.consumers(of: $0).isEmpty && !graphOutputs.contains($0) }),
              let layer = defUse.producer[bn.inputs[0]], layer.canonicalDomain == "ai.onnx", layer.outputs.count == 1,
              defUse.consumers(of: bn.inputs[0]).count == 1, !graphOutputs.contains(bn.inputs[0]) else { return nil }
        switch layer.opType {
        case "Conv": return layer
        case "ConvTranspose": return (layer[attribute: "group"]?.int ?? 1) == 1 ? layer : nil
        case "Gemm": return layer
        default: return nil
        }
    }

    private struct Folded {
        /// The scaled weights as raw float32 bytes, written once into their own buffer; or, when
        /// `pending` is set, the old weights whose scaling it describes.
        let weight: (data: Data, dims: [Int])
        let bias: (values: [Float], dims: [Int])
        var pending: PendingScale?
    }

    private static func newWeights(layer: Node, bn: Node, constants: ConstantValues, scaleNow: Bool) -> Folded? {
        guard let w = constants.float32Bytes(layer.inputs[1]),
              let scale = constants.float32(bn.inputs[1]), let shift = constants.float32(bn.inputs[2]),
              let mean = constants.float32(bn.inputs[3]), let variance = constants.float32(bn.inputs[4]) else { return nil }
        let channels = scale.values.count
        guard [shift, mean, variance].allSatisfy({ $0.values.count == channels }) else { return nil }
        let epsilon = Double(bn[attribute: "epsilon"]?.float ?? 1e-5)
        let s = (0..<channels).map { Double(scale.values[$0]) / (Double(variance.values[$0]) + epsilon).squareRoot() }
        // Which weight axis is the output channel, and how the old bias scales into the new one.
        let outAxis: Int, biasFactor: Double
        switch layer.opType {
        case "Conv":
            outAxis = 0; biasFactor = 1
        case "ConvTranspose":
            outAxis = 1; biasFactor = 1
        default:  // Gemm: Y = alpha * A * B + beta * C, B transposed when transB
            guard w.dims.count == 2 else { return nil }
            outAxis = (layer[attribute: "transB"]?.int ?? 0) == 1 ? 0 : 1
            biasFactor = Double(layer[attribute: "beta"]?.float ?? 1)
        }
        guard w.dims.count > outAxis, w.dims[outAxis] == channels else { return nil }
        var oldBias = [Double](repeating: 0, count: channels)
        if layer.inputs.count > 2, !layer.inputs[2].isEmpty {
            guard let b = constants.float32(layer.inputs[2]), b.values.count == channels else { return nil }
            oldBias = b.values.map { Double($0) * biasFactor }
        }
        let inner = w.dims[(outAxis + 1)...].reduce(1, *), outer = w.dims[..<outAxis].reduce(1, *)
        let count = outer * channels * inner
        guard w.bytes.count == count * 4 else { return nil }
        // Row o·channels + c of the weights is output channel c (the layout both branches above assume).
        let rowScale = PendingScale(rows: outer * channels, inner: inner, factors: s)
        let bias = (0..<channels).map { Float((oldBias[$0] - Double(mean.values[$0])) * s[$0] + Double(shift.values[$0])) }
        guard scaleNow else { return Folded(weight: (w.bytes, w.dims), bias: (bias, [channels]), pending: rowScale) }
        // Read from the model's bytes (any alignment), scaled in float64, written once into the new
        // buffer: no intermediate array (two 100 MB copies on ResNet-50 before).
        return Folded(weight: (rowScale.float32(from: w.bytes), w.dims), bias: (bias, [channels]))
    }
}

/// A float32 TensorProto holding `raw` (little-endian bytes) as its raw_data.
private func tensorProto(name: String, dims: [Int], raw: Data) -> Onnx_TensorProto {
    var proto = Onnx_TensorProto()
    proto.name = name
    proto.dataType = DType.float32.rawValue
    proto.dims = dims.map(Int64.init)
    proto.rawData = raw
    return proto
}
