// halfpipe-bench: HalfPipe's side of the benchmarks; bench/*.sh runs it beside the Python peers
// in the same run and prints the ratios. Each mode prints one JSON line of raw timings.
#if canImport(Glibc)
import Glibc
#endif
import ONNX
import Tensors

/// Median wall time in milliseconds of `runs` calls after `warmup` unmeasured ones.
func medianMilliseconds(runs: Int, warmup: Int = 2, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<warmup { try body() }
    let clock = ContinuousClock()
    var times: [Double] = []
    for _ in 0..<runs {
        let d = try clock.measure(body)
        times.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
    }
    times.sort()
    return times[times.count / 2]
}

func kernels(elements: Int, model: String) throws {
    // Inputs: random-looking finite floats in the normal float16 range, filled once.
    var source = try Tensor(dtype: .float32, shape: [elements], zeroed: false)
    source.withUnsafeMutableBufferPointer(as: Float.self) { buf in
        var state: UInt32 = 12345
        for i in buf.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            buf[i] = Float(Int32(bitPattern: state >> 8) - (1 << 23)) / Float(1 << 12)
        }
    }
    var half = try Tensor(dtype: .float16, shape: [elements], zeroed: true)
    var copy = try Tensor(dtype: .float32, shape: [elements], zeroed: true)
    // Conversion and memcpy alternate run by run, so both see the same machine conditions.
    var convertTimes: [Double] = [], backTimes: [Double] = [], memcpyTimes: [Double] = []
    for run in 0..<17 {
        let warm = run < 2
        let c = source.withUnsafeBufferPointer(as: Float.self) { src in
            half.withUnsafeMutableBytes { dst in medianMilliseconds(runs: 1, warmup: 0) { FloatConversion.float32ToFloat16(src, dst.bindMemory(to: UInt16.self)) } }
        }
        let b = half.withUnsafeBytes { src in
            copy.withUnsafeMutableBufferPointer(as: Float.self) { dst in medianMilliseconds(runs: 1, warmup: 0) { FloatConversion.float16ToFloat32(src.bindMemory(to: UInt16.self), dst) } }
        }
        // memcpy of the float32 buffer: the machine's copy bandwidth, measured in this same run.
        let m = source.withUnsafeBytes { src in
            copy.withUnsafeMutableBytes { dst in medianMilliseconds(runs: 1, warmup: 0) { _ = memcpy(dst.baseAddress!, src.baseAddress!, src.count) } }
        }
        if !warm { convertTimes.append(c); backTimes.append(b); memcpyTimes.append(m) }
    }
    func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
    let convertMs = median(convertTimes), backMs = median(backTimes), memcpyMs = median(memcpyTimes)
    let loadMs = try medianMilliseconds(runs: 7, warmup: 1) { _ = try Model.load(contentsOf: model) }
    let loaded = try Model.load(contentsOf: model)
    let savePath = model + ".halfpipe-saved.onnx"
    let saveMs = try medianMilliseconds(runs: 7, warmup: 1) { try loaded.save(to: savePath, externalData: .embed) }
    unlink(savePath)
    print("""
        {"elements":\(elements),"isa":"\(FloatConversion.isa)","f32_to_f16_ms":\(convertMs),"f16_to_f32_ms":\(backMs),\
        "memcpy_f32_ms":\(memcpyMs),"model_load_ms":\(loadMs),"model_save_ms":\(saveMs)}
        """)
}

/// Where model load and save spend their time, stage by stage (median ms of 7).
func modelStages(_ path: String) throws {
    let data = try FileBytes.read(path)
    let read = try medianMilliseconds(runs: 7) { _ = try FileBytes.read(path).withUnsafeBytes { $0.reduce(0, { $0 &+ $1 }) } }
    let decode = try medianMilliseconds(runs: 7) { _ = try Model.decode(data, path: path) }
    let proto = try Model.decode(data, path: path)
    let build = medianMilliseconds(runs: 7) { _ = Model(proto: proto) }
    let model = Model(proto: proto)
    let message = medianMilliseconds(runs: 7) { _ = model.message() }
    let serialize = try medianMilliseconds(runs: 7) { _ = try model.serialized() }
    let bytes = try model.serialized()
    let out = path + ".stage.onnx"
    let write = try medianMilliseconds(runs: 7) { try FileBytes.writeAtomically(bytes, to: out) }
    unlink(out)
    print("read+touch \(read) decode \(decode) build-IR \(build) message \(message) serialize \(serialize) write \(write)")
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: halfpipe-bench kernels ELEMENTS MODEL | preprocess INPUT.npy JPEG_DIR")
    exit(2)
}
do {
    switch arguments[1] {
    case "model-stages" where arguments.count == 3:
        try modelStages(arguments[2])
    case "preprocess" where arguments.count == 4:
        try preprocessBench(input: arguments[2], decodeDirectory: arguments[3])
    case "kernels" where arguments.count == 4:
        try kernels(elements: Int(arguments[2]) ?? 64 << 20, model: arguments[3])
    default:
        print("usage: halfpipe-bench kernels ELEMENTS MODEL | preprocess INPUT.npy JPEG_DIR")
        exit(2)
    }
} catch {
    print("halfpipe-bench: error: \(error)")
    exit(2)
}
