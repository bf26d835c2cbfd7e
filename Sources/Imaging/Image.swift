import FoundationEssentials
import Tensors

/// Order of the three colour channels in memory.
public enum ChannelOrder: String, Sendable, Codable, CaseIterable {
    case rgb, bgr

    /// The source channel each output channel reads when converting from `self` to `target`.
    func channelMap(to target: ChannelOrder) -> [Int32] { self == target ? [0, 1, 2] : [2, 1, 0] }
}

/// A decoded 8-bit colour image: a uint8 tensor of shape [height, width, 3] (HWC) in `order`.
public struct Image: Sendable {
    public private(set) var pixels: Tensor
    public let order: ChannelOrder
    /// Where the image came from (its file), for error messages; nil for images made in memory.
    public var source: String?

    public var height: Int { pixels.shape[0] }
    public var width: Int { pixels.shape[1] }

    /// Wraps a uint8 HWC tensor with three channels (the layout decoders and cameras produce).
    public init(pixels: Tensor, order: ChannelOrder, source: String? = nil) throws(ImagingError) {
        guard pixels.dtype == .uint8, pixels.shape.rank == 3, pixels.shape[2] == 3 else {
            throw .badTensor("an image must be a uint8 array of shape [height, width, 3] (HWC), got \(pixels.dtype) \(pixels.shape)")
        }
        guard pixels.shape[0] > 0, pixels.shape[1] > 0 else {
            throw .badTensor("an image must have at least one pixel, got shape \(pixels.shape)")
        }
        self.pixels = pixels
        self.order = order
        self.source = source
    }
}
