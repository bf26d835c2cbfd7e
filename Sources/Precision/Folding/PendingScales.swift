import FoundationEssentials
import Tensors

/// A folded layer's new weights, not yet computed: its original float32 bytes times a float64
/// factor per output channel. When nothing needs the float32 model in between (no range analysis,
/// no check), conversion narrows such weights straight from the original bytes
/// (`RawFloatKernels.narrow` with a scale), so ResNet-50's 100 MB of folded float32 weights are never written.
struct PendingScale {
    /// Rows of `inner` values; row r takes factors[r % factors.count].
    let rows: Int
    let inner: Int
    let factors: [Double]

    /// The weights in float32, as eager folding computes them (bit for bit).
    func float32(from raw: Data) -> Data {
        FreshBytes.make(count: rows * inner * 4) { out in
            raw.withUnsafeBytes { source in RawFloatKernels.scaleRows(source, into: out, rows: rows, inner: inner, factors: factors) }
        }
    }
}

/// The weights of one conversion whose scaling is pending, by initializer name. A class: the
/// conversion's value-type helpers all see (and settle) the same table. Whoever reads such an
/// initializer's values goes through `ConstantSources`, which scales first; nothing pending may
/// survive the conversion (the raw bytes are the unscaled weights).
final class PendingScales {
    var byName: [String: PendingScale] = [:]

    var isEmpty: Bool { byName.isEmpty }

    /// Takes `name`'s entry out of the table.
    func take(_ name: String) -> PendingScale? { byName.removeValue(forKey: name) }
}
