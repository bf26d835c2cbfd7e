import ONNX
import Tensors

/// A shell-style pattern (`*` any run, `?` one character) matched against a whole op type or node name.
public struct NamePattern: Sendable, Equatable, Codable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public var description: String { text }

    public func matches(_ name: String) -> Bool {
        // Most patterns are plain op type names: compare directly (the glob path copies both).
        if !text.utf8.contains(UInt8(ascii: "*")) && !text.utf8.contains(UInt8(ascii: "?")) { return text == name }
        return Self.match(Array(text.utf8)[...], Array(name.utf8)[...])
    }

    private static func match(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        // Iterative glob with one backtrack point: linear in practice, no recursion on `*`.
        var pi = p.startIndex, si = s.startIndex
        var star: Int?, mark = s.startIndex
        while si < s.endIndex {
            if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
                pi += 1; si += 1
            } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if let st = star {
                pi = st + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.endIndex
    }
}

/// Which graph inputs and outputs keep their float32 type.
public enum KeepIOTypes: Sendable, Equatable {
    case all
    case none
    case names(Set<String>)

    func keeps(_ name: String) -> Bool {
        switch self {
        case .all: true
        case .none: false
        case .names(let set): set.contains(name)
        }
    }
}

/// Options of the FP16/BF16 conversion (`halfpipe convert --to fp16|bf16`).
public struct ConversionOptions: Sendable {
    /// `.float16` or `.bfloat16`.
    public var target: DType
    public var keepIOTypes: KeepIOTypes = .all
    /// Op types kept in float32 (patterns).
    public var blockedOpTypes: [NamePattern] = ConversionOptions.defaultBlockedOpTypes
    /// Node names kept in float32 (patterns).
    public var blockedNodeNames: [NamePattern] = []
    public var tinyValues: TinyValuePolicy = .clamp
    /// Fold inference-mode BatchNormalization into the layer before it (float64), before converting.
    public var foldBatchNorm = true
    /// Replace Cast nodes reading constants by the cast constants, before converting.
    public var foldConstantCasts = true
    /// Nodes to keep in float32 with the reason (from range analysis), keyed by the node's first
    /// output name (stable across copies of the model, unlike node identity).
    public var keptNodes: [String: String] = [:]

    public init(target: DType) { self.target = target }

    /// The default op-type block list: ops whose float16 results change meaning, not just precision.
    /// CumSum accumulates without bound; TopK's ranking flips on ties that float16 rounding creates;
    /// NonMaxSuppression and RoiAlign compare and index with box coordinates; Range produces counts;
    /// ReduceProd and Det overflow at small sizes. Resize, Min,
    /// Max and Upsample (blocked by onnxconverter-common) are not here: their only float32-only
    /// inputs (Resize's scales) are kept per input, from the operator's schema.
    public static let defaultBlockedOpTypes: [NamePattern] = [
        "CumSum", "TopK", "NonMaxSuppression", "RoiAlign", "Range", "ReduceProd", "Det",
    ].map(NamePattern.init)
}
