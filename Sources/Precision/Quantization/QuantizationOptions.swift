import ONNX
import Tensors

/// Options of `halfpipe quantize`: how ranges are calibrated and which nodes run in INT8.
public struct QuantizationOptions: Sendable {
    public var method: CalibrationMethod = .entropy
    /// Symmetric int8 activations (zero point 0): what TensorRT requires. The default is uint8 with
    /// a zero point, where a ReLU after a quantized layer folds into its output's range: ONNX
    /// Runtime's x86 kernels fuse only those (measured with ORT 1.31: int8 activations ran
    /// 1.2–4.5× slower than float32, uint8 0.43–0.85×).
    public var symmetric = false
    /// One weight scale per output channel; false: one per tensor.
    public var perChannel = true
    /// Weights in 7 bits ([−63, 63]): what ONNX Runtime's int8 kernels need on x86 CPUs without
    /// VNNI, whose 16-bit intermediate sums otherwise saturate (relative L2 0.06–0.18 measured on a
    /// small conv chain on an AVX2-only EPYC, against < 0.03 with 7 bits). On by default where the
    /// machine that quantizes lacks VNNI; a model meant for another CPU should set it for that one.
    public var reduceRange = !CPUFeatures.hasInt8DotProduct

    /// The largest int8 weight magnitude: 127, or 63 with `reduceRange`.
    public var weightLimit: Float { reduceRange ? 63 : 127 }
    /// Bins of the |x| histograms the entropy and percentile calibrators read.
    public var histogramBins = 2048
    /// The ops that gain from INT8 kernels.
    public var quantizedOpTypes: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
    /// Ops that run on int8 where every input comes from an int8 node and the output feeds one
    /// (ONNX Runtime has QLinear kernels for them); empty keeps only the layers in int8.
    /// HardSigmoid and HardSwish have no QLinear kernel: `QDQRewrite` writes them as a QLinearAdd
    /// whose output range is the clip (and a QLinearMul for HardSwish), with uint8 activations only.
    public var int8OpTypes: Set<String> = ["Sigmoid", "Mul", "Add", "Concat", "GlobalAveragePool", "HardSigmoid", "HardSwish"]
    public var excludedOpTypes: [NamePattern] = []
    public var excludedNodeNames: [NamePattern] = []
    /// How many of the last layers before the model's outputs stay float (box regressions, class
    /// scores, probability maps: their int8 rounding is the output's error); 0 quantizes them.
    public var floatOutputLayers = 1
    /// A tensor whose estimated int8 error (‖q(x) − x‖ / ‖x‖ from its histogram) exceeds this keeps
    /// its layers in float: high-range tensors with their mass near zero.
    public var maxTensorError = 0.1
    /// Quantize every eligible layer, also where int8 does not pay (see `LayerCost`).
    public var everyLayer = false
    /// What the layers left out of int8 compute in: `.float32`, or `.float16` (for GPUs and
    /// TensorRT; ONNX Runtime's CPU provider runs most float16 ops through float32 casts).
    public var rest: DType = .float32
    /// Fold BatchNormalization into the layer before it first (float64), so the folded weights are
    /// what gets quantized.
    public var foldBatchNorm = true

    public init() {}
}
