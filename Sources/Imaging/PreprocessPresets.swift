import FoundationEssentials

extension PreprocessSpec {
    /// The common model families' conventions, by name. Element type stays float32 unless chosen.
    public static let presets: [(name: String, summary: String, spec: PreprocessSpec)] = [
        ("yolo640", "Ultralytics YOLO: letterbox 640x640, rounded size, centred, pad 114, bilinear, RGB, /255",
         letterbox(640, 640)),
        ("yolo416", "YOLO-style at 416x416 (e.g. ddddocr's detector), otherwise as yolo640", letterbox(416, 416)),
        ("yolox416", "YOLOX-style (ddddocr's detector): letterbox 416x416 top-left, truncated size, pad 114, BGR, 0-255",
         { var s = letterbox(416, 416); s.rounding = .truncate; s.pad = .topLeft; s.order = .bgr; s.scale = 1; return s }()),
        ("opencv640", "OpenCV blobFromImageWithParams LETTERBOX 640: truncated size, pad 114, /255",
         { var s = letterbox(640, 640); s.rounding = .truncate; return s }()),
        ("imagenet224", "torchvision: shorter side 256, centre crop 224, bilinear, RGB, ImageNet mean/std",
         { var s = PreprocessSpec(height: 224, width: 224)
           s.resize = .crop; s.resizeShorter = 256
           s.mean = [0.485, 0.456, 0.406]; s.std = [0.229, 0.224, 0.225]; return s }()),
        ("paddleocr-det", "PaddleOCR/RapidOCR text detector: letterbox 640x640, top-left, BGR, (x/255-0.5)/0.5, pad 0",
         paddle(640, 640)),
        ("paddleocr-cls", "PaddleOCR text-angle classifier: 48x192, fit, top-left, BGR, (x/255-0.5)/0.5, pad 0",
         paddle(48, 192)),
        ("paddleocr-rec", "PaddleOCR recognizer: 48x320, fit, top-left, BGR, (x/255-0.5)/0.5, pad 0", paddle(48, 320)),
        ("picodet320", "PaddleDetection PP-PicoDet: stretched to 320x320 (no letterbox), bilinear, RGB, ImageNet mean/std",
         { var s = PreprocessSpec(height: 320, width: 320)
           s.resize = .stretch
           s.mean = [0.485, 0.456, 0.406]; s.std = [0.229, 0.224, 0.225]; return s }()),
    ]

    public static func preset(named name: String) -> PreprocessSpec? {
        presets.first { $0.name == name }?.spec
    }

    private static func letterbox(_ h: Int, _ w: Int) -> PreprocessSpec { PreprocessSpec(height: h, width: w) }

    private static func paddle(_ h: Int, _ w: Int) -> PreprocessSpec {
        var s = PreprocessSpec(height: h, width: w)
        s.pad = .topLeft
        s.order = .bgr
        s.mean = [0.5, 0.5, 0.5]; s.std = [0.5, 0.5, 0.5]
        s.padValue = 127.5  // normalizes to 0, the value PaddleOCR pads its normalized tensor with
        return s
    }
}
