// Fuzz target for the frame path of `detect`: arbitrary bytes decoded as an image (JPEG/PNG
// sniffed), preprocessed into a batch by three presets, and the same bytes read as a detector's
// raw outputs (NaN, infinities and all) through every head decoder, NMS and the mapping back to
// the frame. Built with `make fuzz` (libFuzzer, -DFUZZING); a plain build replays files.
import Detection
import FoundationEssentials
import Imaging
import Tensors

let presets = ["yolox416", "yolo640", "imagenet224"].compactMap { PreprocessSpec.preset(named: $0) }.compactMap { try? Preprocessor(spec: $0) }

func exercise(_ bytes: Data) {
    var placement = try? ImagePlacement.make(width: 640, height: 480, spec: PreprocessSpec.preset(named: "yolox416")!)
    if let image = try? ImageDecoder().decode(bytes, name: "fuzz-input"), image.width * image.height <= 1 << 22 {
        for preprocessor in presets { _ = try? preprocessor.batch([image], size: 2) }
        placement = try? ImagePlacement.make(width: image.width, height: image.height, spec: PreprocessSpec.preset(named: "yolox416")!)
    }
    // The bytes as float32 head outputs of a few shapes.
    let floats = bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    guard floats.count >= 6, let placement else { return }
    let layouts: [(HeadLayout, [Int], Int, Int)] = [(.yolox, [1, 21, 6], 32, 32), (.yolov8, [1, 6, 21], 32, 32), (.yolov5, [1, 63, 6], 32, 32), (.boxes, [1, 0, 6], 32, 32)]
    for (layout, shape, w, h) in layouts {
        var shape = shape
        if layout == .boxes { shape[1] = floats.count / 6 }
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count { values[i] = floats[i % floats.count] }
        guard let decoder = try? HeadDecoder.recognise([HeadOutput(name: "o", shape: shape)], inputWidth: w, inputHeight: h, requested: layout),
              let tensor = try? Tensor(shape: Shape(shape), elements: values),
              let nms = try? NonMaximumSuppression(iouThreshold: 0.5),
              let post = try? Postprocessor(decoder: decoder, scoreThreshold: 0.1, nms: nms, mapping: .letterboxGain) else { continue }
        _ = try? post(["o": tensor], placements: [placement])
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("halfpipe_fuzz_frames_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        exercise(size == 0 ? Data() : Data(bytes: data!, count: size))
        return 0
    }
}
#else
@main
struct FrameFuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: path)) else { continue }
            exercise(bytes)
        }
    }
}
#endif
