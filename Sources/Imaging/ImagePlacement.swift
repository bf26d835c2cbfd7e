import FoundationEssentials

/// Where one image landed in its batch slot: the numbers that map boxes found by the model back to
/// the original picture exactly. Output pixel (x, y) shows resized pixel (x - padLeft + cropLeft,
/// y - padTop + cropTop), and the resized image is the original scaled by resized/original per axis.
public struct ImagePlacement: Sendable, Codable, Equatable {
    public var originalWidth: Int
    public var originalHeight: Int
    /// The size the whole image was resampled to (before any crop).
    public var resizedWidth: Int
    public var resizedHeight: Int
    /// The letterbox gain min(target/original) (what Ultralytics calls `ratio`); 1 without resizing.
    public var ratio: Double
    public var padLeft: Int
    public var padTop: Int
    public var padRight: Int
    public var padBottom: Int
    /// The first resized pixel shown (crop mode), else 0.
    public var cropLeft: Int
    public var cropTop: Int
    /// How much of the resized image is in the slot.
    public var visibleWidth: Int
    public var visibleHeight: Int

    public var scaleX: Double { Double(resizedWidth) / Double(originalWidth) }
    public var scaleY: Double { Double(resizedHeight) / Double(originalHeight) }

    /// A point in the batch slot's coordinates (pixel edges, as box corners are) in the original image.
    public func originalPoint(x: Double, y: Double) -> (x: Double, y: Double) {
        ((x - Double(padLeft - cropLeft)) / scaleX, (y - Double(padTop - cropTop)) / scaleY)
    }

    /// The geometry `spec` gives an image of `width` x `height` pixels.
    public static func make(width: Int, height: Int, spec: PreprocessSpec, image: String = "image") throws(ImagingError) -> ImagePlacement {
        guard width > 0, height > 0 else { throw .badSize(image: image, reason: "the image is empty (\(width)x\(height) pixels)") }
        let th = spec.height, tw = spec.width
        var resized: (w: Int, h: Int)
        var ratio = 1.0
        switch spec.resize {
        case .letterbox:
            switch spec.rounding {
            case .round:
                // Ultralytics: r in double precision, Python's round (halves to even).
                var r = min(Double(th) / Double(height), Double(tw) / Double(width))
                if !spec.allowUpscale { r = min(r, 1) }
                ratio = r
                resized = (Int((Double(width) * r).rounded(.toNearestOrEven)), Int((Double(height) * r).rounded(.toNearestOrEven)))
            case .truncate:
                // OpenCV's blobFromImageWithParams: a float factor and C truncation.
                var f = min(Float(tw) / Float(width), Float(th) / Float(height))
                if !spec.allowUpscale { f = min(f, 1) }
                ratio = Double(f)
                resized = (Int(Float(width) * f), Int(Float(height) * f))
            }
        case .stretch:
            resized = (tw, th)
            ratio = min(Double(th) / Double(height), Double(tw) / Double(width))
        case .crop:
            // torchvision Resize(shorter) then CenterCrop: the longer side follows the aspect ratio.
            let shorter = spec.resizeShorter ?? min(th, tw)
            let long = Double(shorter) * Double(max(width, height)) / Double(min(width, height))
            let longSide = spec.rounding == .round ? Int(long.rounded(.toNearestOrEven)) : Int(long)
            resized = width <= height ? (shorter, longSide) : (longSide, shorter)
            ratio = Double(shorter) / Double(min(width, height))
        case .none:
            guard width <= tw, height <= th else {
                throw .badSize(image: image, reason: "\(width)x\(height) does not fit the \(tw)x\(th) target without resizing (pick a resize mode)")
            }
            resized = (width, height)
        }
        // A sliver of an extreme aspect ratio still keeps one row/column (Ultralytics would pass 0 to cv2.resize).
        resized = (max(1, resized.w), max(1, resized.h))
        let (padLeft, cropLeft, visibleW) = place(resized.w, in: tw, spec: spec)
        let (padTop, cropTop, visibleH) = place(resized.h, in: th, spec: spec)
        return ImagePlacement(originalWidth: width, originalHeight: height, resizedWidth: resized.w, resizedHeight: resized.h,
                              ratio: ratio, padLeft: padLeft, padTop: padTop,
                              padRight: tw - padLeft - visibleW, padBottom: th - padTop - visibleH,
                              cropLeft: cropLeft, cropTop: cropTop, visibleWidth: visibleW, visibleHeight: visibleH)
    }

    /// Along one axis: the padding before the image, the crop offset into it, and the visible length.
    private static func place(_ length: Int, in target: Int, spec: PreprocessSpec) -> (pad: Int, crop: Int, visible: Int) {
        if length <= target {
            let pad = spec.pad == .topLeft ? 0 : (target - length) / 2  // the odd pixel goes after
            return (pad, 0, length)
        }
        // Larger than the slot (crop mode, or a stretch that rounding overshoots): take the centre.
        let excess = Double(length - target) / 2
        let crop = spec.pad == .topLeft ? 0 : (spec.rounding == .round ? Int(excess.rounded(.toNearestOrEven)) : Int(excess))
        return (0, crop, target)
    }
}
