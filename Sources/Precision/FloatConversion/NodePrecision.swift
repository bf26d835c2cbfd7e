import ONNX
import Tensors

/// The decision for one node: converted (with the element type of each of its type variables),
/// kept in float32 (why), or untouched (it never sees float32).
enum NodePrecision {
    case converted(variables: [Int: DType])
    case kept(String)
    case untouched
}

/// Ops that hold sequences or optionals, or run bodies: they keep their boundary in float32 (their
/// bodies are converted as graphs of their own).
let structuralOps: Set<String> = [
    "If", "Loop", "Scan", "SequenceMap", "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase",
    "SequenceAt", "SequenceLength", "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement",
    "OptionalHasElement",
]

/// Normalisations whose constant inputs must be exact: a running variance of 1e8 clamped to 65504
/// changes the output, so such a node stays float32 rather than have its constants clamped.
let magnitudeSensitiveOps: Set<String> = [
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization", "LpNormalization",
]

/// How each kind of attribute names an output's element type: rewritten from FLOAT to the target when
/// its node is converted.
let typeAttributes: [String: String] = [
    "Cast": "to", "RandomNormal": "dtype", "RandomUniform": "dtype", "RandomNormalLike": "dtype",
    "RandomUniformLike": "dtype", "EyeLike": "dtype", "Bernoulli": "dtype",
    "HannWindow": "output_datatype", "HammingWindow": "output_datatype", "BlackmanWindow": "output_datatype",
    "MelWeightMatrix": "output_datatype",
]

extension Attribute {
    /// An int attribute holding a type code.
    static func type(_ name: String, _ type: DType) -> Attribute { .int(name, Int(type.rawValue)) }
}
