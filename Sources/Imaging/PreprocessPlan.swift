import FoundationEssentials
import Tensors

/// What another device needs to reproduce the CPU pass exactly: each image's placement and tap
/// tables, the per-channel output tables and the pad elements. The GPU path uploads these, so
/// both devices compute the same integers and look up the same output bytes.
public struct ImagePlan: Sendable {
    public let placement: ImagePlacement
    public let xTaps: Int, xIndex: [Int32], xWeight: [Int32]
    public let yTaps: Int, yIndex: [Int32], yWeight: [Int32]
    /// Output channel c reads source channel channelMap[c].
    public let channelMap: [Int32]
}

extension Preprocessor {
    /// Plans for `images`, checked as `run` checks them.
    public func plans(for images: [Image]) throws(ImagingError) -> [ImagePlan] {
        try plans(for: images.map { .pixels($0) })
    }

    /// Plans for pictures by their size and order alone (a JPEG its device decodes has no pixels here).
    public func plans(for pictures: [PictureInput]) throws(ImagingError) -> [ImagePlan] {
        try pictures.enumerated().map { (i, picture) throws(ImagingError) in
            let placement = try placement(width: picture.width, height: picture.height, image: picture.source ?? "image \(i)")
            let taps = tapCache.taps(width: picture.width, height: picture.height, placement: placement, spec: spec)
            return ImagePlan(placement: placement, xTaps: taps.x.taps, xIndex: taps.x.index, xWeight: taps.x.weight,
                             yTaps: taps.y.taps, yIndex: taps.y.index, yWeight: taps.y.weight,
                             channelMap: picture.order.channelMap(to: spec.order))
        }
    }

    /// 3 x 256 output elements (little-endian bytes, channel-major): the element for each level.
    public var outputTable: [UInt8] { tables.table }
    /// One output element per channel: the padding.
    public var padElements: [UInt8] { tables.pad }
    /// Bytes per output element.
    public var elementSize: Int { tables.elementSize }
}
