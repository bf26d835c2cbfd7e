import Inference
import ONNX
import Tensors

/// What ONNX Runtime's CPU provider (1.31) refuses in float16 and bfloat16 where it runs float32,
/// measured by running every ONNX node test converted to each type and sweeps of 26,136 small
/// Resize models (Tests/ONNXRuntimeTests/KernelLimitTests.swift re-checks each rule against ORT).
///
/// float16: ORT has few float16 kernels, but its InsertCastTransformer runs the others in float32,
/// with the float32 kernel's own checks, so almost everything runs. What does not: ops whose float16
/// handling is explicitly refused (Scatter reductions), ops ORT expands into function bodies that
/// mix types, dtype attributes without a kernel, and one Resize pattern that float32 runs only
/// because ORT's optimizer folds the Transposes around it, which the inserted Casts prevent.
///
/// bfloat16: no such fallback — an op without a bfloat16 kernel fails to load. The CPU provider
/// has them only for data movement and a few others.
enum ORTKernelLimits {
    static func mayRefuse(_ node: Node, computing type: DType) -> Bool {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return false }
        switch type {
        case .bfloat16: return !bfloat16Kernels.contains(node.opType) || float16Limited.contains(node.opType)
        case .float16:
            // Resize is in question only in cubic mode, Scatter only with a reduction: the PP-OCR
            // detector's six linear Resizes cost the conversion nothing.
            switch node.opType {
            case "Resize": return node[attribute: "mode"]?.string == "cubic"
            case "ScatterElements", "ScatterND": return (node[attribute: "reduction"]?.string ?? "none") != "none"
            default: return float16Limited.contains(node.opType)
            }
        default: return false
        }
    }

    /// The op types some float16 node of is refused (see `support`).
    static let float16Limited: Set<String> = ["MeanVarianceNormalization", "ScatterElements", "ScatterND", "EyeLike", "RandomNormal", "RandomUniform", "Resize"]

    static func support(_ node: Node, _ context: NodeContext) -> NodeSupport {
        guard node.domain.isEmpty || node.domain == "ai.onnx", let type = context.computeType, type == .float16 || type == .bfloat16 else {
            return .supported
        }
        let op = node.opType
        if type == .bfloat16 && !bfloat16Kernels.contains(op) {
            return .unsupported("ONNX Runtime's CPU provider has no bfloat16 kernel for \(op)")
        }
        switch op {
        case "MeanVarianceNormalization":
            return .unsupported("ONNX Runtime expands \(op) into a function body that mixes \(type.name) and float32")
        case "ScatterElements", "ScatterND":
            let reduction = node[attribute: "reduction"]?.string ?? "none"
            // float16 ScatterElements takes max and min; float16 ScatterND and bfloat16 take no reduction.
            let refused = type == .bfloat16 || op == "ScatterND" ? reduction != "none" : reduction == "add" || reduction == "mul"
            return refused ? .unsupported("ONNX Runtime's CPU provider refuses \(op) with reduction '\(reduction)' in \(type.name)") : .supported
        case "EyeLike":
            let input = context.inputTypes.first ?? nil, output = context.outputTypes.first ?? nil
            return input != output ? .unsupported("ONNX Runtime has no EyeLike kernel from \(input?.name ?? "?") to \(output?.name ?? "?")") : .supported
        case "RandomNormal" where context.opset <= 21, "RandomUniform" where context.opset <= 21:
            return .unsupported("ONNX Runtime has no \(op)(\(context.opset)) kernel for \(type.name)")
        case "Resize":
            return resize(node, context, type)
        default:
            return .supported
        }
    }

    /// Ops the CPU provider runs in bfloat16 (from the node tests that load and run in bfloat16).
    static let bfloat16Kernels: Set<String> = [
        "Cast", "CastLike", "Concat", "Constant", "ConstantOfShape", "Flatten", "Gather", "GatherElements", "GatherND", "Identity",
        "IsInf", "IsNaN", "Reshape", "Shape", "Slice", "Split", "Squeeze", "Transpose", "Unsqueeze", "ScatterElements", "ScatterND",
    ]

    /// Cubic Resize of a 4-D tensor runs only when the outer two scales are 1 (NCHW), or the outer
    /// and inner ones are with antialias or no downscaling. A model that resizes NHWC between
    /// `Transpose(0,2,3,1)` and `Transpose(0,3,1,2)` runs in float32 only because ORT's optimizer
    /// folds the Transposes and makes the Resize NCHW; in float16 the Casts ORT inserts stop that
    /// rewrite and it refuses the node (at load with constant scales, at run time with sizes or
    /// computed scales). Anywhere else float16 behaves as float32 (measured over 26,136 models).
    static func resize(_ node: Node, _ context: NodeContext, _ type: DType) -> NodeSupport {
        guard (node[attribute: "mode"]?.string ?? "nearest") == "cubic" else { return .supported }
        guard context.inputProducers[0] == NodeContext.Producer(opType: "Transpose", perm: [0, 2, 3, 1]) else { return .supported }
        if let rank = context.inputShapes[0]?.count, rank != 4 { return .supported }
        let antialias = node[attribute: "antialias"]?.int ?? 0
        let scalesSlot = context.opset >= 11 ? 2 : 1
        if let scales = context.constantInputs[scalesSlot], let s = try? scales.floatValues(), !s.isEmpty {
            return cubicRuns(scales: s, antialias: antialias != 0) ? .supported
                : .unsupported("ONNX Runtime runs this cubic Resize (scales \(s), after a Transpose to NHWC) only when its float32 optimizer makes it NCHW, which \(type.name) Casts prevent")
        }
        return .decidedAtRun("cubic Resize after a Transpose to NHWC in \(type.name): ONNX Runtime refuses it when it downscales, which the sizes decide at run time")
    }

    /// ORT's `ScalesValidation` for cubic mode.
    static func cubicRuns(scales s: [Float], antialias: Bool) -> Bool {
        guard s.count == 4 else { return true }  // 2-D is bicubic; other ranks fail in float32 too
        if s[0] == 1 && s[1] == 1 { return true }
        return s[0] == 1 && s[3] == 1 && (antialias || (s[1] >= 1 && s[2] >= 1))
    }
}
