import Inference
import ONNX
import Tensors

/// What ONNX Runtime's CPU provider (1.31) refuses in float16 and bfloat16 that it runs in float32,
/// found by running every ONNX node test and targeted sweeps converted to those types (see
/// Tests/ONNXRuntimeTests/KernelLimitTests.swift, which re-checks each rule against ORT itself).
/// Most ops without a reduced-precision kernel are fine: ORT's InsertCastTransformer runs them in
/// float32. The rules here are the ones it does not rescue, at load or at run time.
enum ORTKernelLimits {
    static func mayRefuse(opType: String, domain: String) -> Bool {
        (domain.isEmpty || domain == "ai.onnx") && (opType == "Resize" || refusedAtLoad[opType] != nil)
    }

    static func support(_ node: Node, _ context: NodeContext) -> NodeSupport {
        guard node.domain.isEmpty || node.domain == "ai.onnx", let type = context.computeType, type == .float16 || type == .bfloat16 else {
            return .supported
        }
        if let reason = refusedAtLoad[node.opType], reason.types.contains(type) {
            return .unsupported("ONNX Runtime's CPU provider refuses \(node.opType) in \(type.name) (\(reason.why))")
        }
        if node.opType == "Resize" { return resize(node, context, type) }
        return .supported
    }

    /// Op types ORT expands into function bodies that mix the reduced type with float32, so the
    /// expanded graph fails to load.
    static let refusedAtLoad: [String: (types: Set<DType>, why: String)] = [
        "Attention": ([.float16, .bfloat16], "its function body mixes types"),
        "RMSNormalization": ([.float16, .bfloat16], "its function body mixes types"),
    ]

    /// Resize: ORT's reduced-precision path takes fewer scale patterns than its float32 path.
    static func resize(_ node: Node, _ context: NodeContext, _ type: DType) -> NodeSupport {
        let mode = node[attribute: "mode"]?.string ?? "nearest"
        guard mode == "cubic" else { return .supported }
        // Downscaling in cubic mode is refused at run time in float16; with constant scales we know.
        let scalesSlot = context.opset >= 11 ? 2 : 1
        if let scales = context.constantInputs[scalesSlot], let values = try? scales.floatValues(), !values.isEmpty {
            return values.allSatisfy({ $0 >= 1 }) ? .supported
                : .unsupported("ONNX Runtime's CPU provider refuses cubic Resize that downscales in \(type.name)")
        }
        return .decidedAtRun("cubic Resize in \(type.name): ONNX Runtime refuses it when it downscales, which the sizes decide at run time")
    }
}
