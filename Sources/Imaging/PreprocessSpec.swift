import FoundationEssentials

/// Everything that turns decoded images into a model's input batch: geometry (target size, resize
/// mode, rounding, padding), sampling, colour order, normalization, layout and element type.
///
/// The conventions of the common tools differ, so each is a parameter (see the reference notes):
/// Ultralytics rounds the resized size and pads with 114; OpenCV's `blobFromImageWithParams`
/// truncates it; PaddleOCR pads top-left. A value type, read from the command line or from JSON.
public struct PreprocessSpec: Sendable, Codable, Equatable {
    public enum ResizeMode: String, Sendable, Codable, CaseIterable {
        /// Keep the aspect ratio, fit inside the target, pad the rest.
        case letterbox
        /// Resize to exactly the target size.
        case stretch
        /// Resize the shorter side to `resizeShorter`, then take the centre (torchvision's Resize + CenterCrop).
        case crop
        /// No resampling: the image is placed as it is (it must fit inside the target).
        case none
    }

    /// How the resized size is made whole.
    public enum Rounding: String, Sendable, Codable, CaseIterable {
        /// `round(w * r)` with r in double precision, halves to even: Ultralytics, torchvision's crop offset.
        case round
        /// `int(w * r)` with r in single precision: OpenCV's letterbox, DeepStream.
        case truncate
    }

    public enum PadPlacement: String, Sendable, Codable, CaseIterable {
        /// Centred; an odd pixel goes to the bottom/right.
        case center
        /// The image at the top-left corner, padding right and below (PaddleOCR).
        case topLeft = "top-left"
    }

    public enum Interpolation: String, Sendable, Codable, CaseIterable {
        /// OpenCV's INTER_NEAREST (and PyTorch's "nearest"): source index floor(x * scale).
        case nearest
        /// OpenCV's INTER_LINEAR: half-pixel centres, edge pixels repeated.
        case bilinear
        /// OpenCV's INTER_AREA: box averaging when shrinking (use it for strong down-scaling).
        case area
    }

    public enum Layout: String, Sendable, Codable, CaseIterable { case nchw, nhwc }

    public enum OutputType: String, Sendable, Codable, CaseIterable {
        case float32, float16, bfloat16
        /// The resampled pixel levels themselves (scale, mean and std do not apply).
        case uint8
        /// The normalized value quantized: clamp(round(x / int8Scale) + int8ZeroPoint, -128, 127).
        case int8
    }

    public var height: Int
    public var width: Int
    public var resize: ResizeMode = .letterbox
    public var rounding: Rounding = .round
    public var pad: PadPlacement = .center
    /// The padding's pixel level before normalization (114 for YOLO; 127.5 pads a mean-0.5 model with 0).
    public var padValue: Double = 114
    public var interpolation: Interpolation = .bilinear
    /// Letterbox only: whether images smaller than the target are enlarged (Ultralytics' `scaleup`).
    public var allowUpscale: Bool = true
    /// Crop mode: the shorter side's length before the centre crop (nil: the target's shorter side).
    public var resizeShorter: Int?
    /// The channel order the model expects.
    public var order: ChannelOrder = .rgb
    /// x = (level * scale - mean[c]) / std[c], per output channel.
    public var scale: Double = 1.0 / 255.0
    public var mean: [Double] = [0, 0, 0]
    public var std: [Double] = [1, 1, 1]
    public var layout: Layout = .nchw
    public var dtype: OutputType = .float32
    public var int8Scale: Double = 1.0 / 127.0
    public var int8ZeroPoint: Int = 0

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    /// Rejects what cannot be carried out, saying which field is wrong.
    public func validate() throws(ImagingError) {
        guard height > 0, width > 0, height <= 1 << 15, width <= 1 << 15 else {
            throw .invalidSpec("target size \(height)x\(width) must be between 1 and 32768 on each side")
        }
        guard mean.count == 3, std.count == 3 else {
            throw .invalidSpec("mean and std need 3 values each (one per channel), got \(mean.count) and \(std.count)")
        }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite), scale.isFinite, scale != 0 else {
            throw .invalidSpec("scale, mean and std must be finite, and scale and std non-zero")
        }
        guard padValue.isFinite, padValue >= 0, padValue <= 255 else {
            throw .invalidSpec("pad value \(padValue) must be a pixel level between 0 and 255")
        }
        if let s = resizeShorter, resize == .crop {
            guard s >= min(height, width), s <= 1 << 16 else {
                throw .invalidSpec("resize-shorter \(s) must be at least the crop's shorter side \(min(height, width))")
            }
        }
        if dtype == .uint8, scale != 1.0 / 255.0 || mean != [0, 0, 0] || std != [1, 1, 1] {
            throw .invalidSpec("uint8 output carries the pixel levels themselves; drop scale/mean/std, or pick a float output")
        }
        if dtype == .int8 {
            guard int8Scale.isFinite, int8Scale > 0, (-128...127).contains(int8ZeroPoint) else {
                throw .invalidSpec("int8 needs a positive scale and a zero point in -128...127")
            }
        }
    }
}
