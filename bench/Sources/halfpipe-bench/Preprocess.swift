// The preprocessing benchmark's HalfPipe side: the seed workload (3 x 900x1200x3 uint8) to a
// 3x3x640x640 float16 letterbox and to 3x3x900x1200 float16 without resizing, the memcpy floor
// measured in the same run, and decoding a folder of real JPEGs.
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Imaging
import Tensors

func preprocessBench(input: String, decodeDirectory: String) throws {
    let stacked = try NPY.read(contentsOf: input)
    guard stacked.dtype == .uint8, stacked.shape.rank == 4, stacked.shape[3] == 3 else {
        throw ImagingError.badTensor("\(input): expected uint8 [N, H, W, 3], got \(stacked.dtype) \(stacked.shape)")
    }
    let n = stacked.shape[0], h = stacked.shape[1], w = stacked.shape[2]
    let images = try (0..<n).map { i in
        try Image(pixels: stacked.slice(i..<(i + 1)).reshaped([h, w, 3]), order: .rgb)
    }
    var letterboxSpec = PreprocessSpec.preset(named: "yolo640")!
    letterboxSpec.dtype = .float16
    var plainSpec = PreprocessSpec(height: h, width: w)
    plainSpec.resize = .none
    plainSpec.dtype = .float16
    let letterbox = try Preprocessor(spec: letterboxSpec), plain = try Preprocessor(spec: plainSpec)
    var letterboxBatch = try letterbox.makeBatch(size: n), plainBatch = try plain.makeBatch(size: n)

    // The floor: exactly the no-resize pass's traffic on the same buffers, done by the C library:
    // memcpy reads the input into the first part of the output batch, memset writes the rest.
    // Same pages, same cache state as our pass; split over the cores as our pass is.
    let inBytes = stacked.byteCount, outBytes = plainBatch.byteCount
    var floorTarget = try plain.makeBatch(size: n)
    let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    func floorPass() {
        stacked.withUnsafeBytes { src in
            floorTarget.withUnsafeMutableBytes { dst in
                let s = UncheckedSendable(UnsafeMutableRawPointer(mutating: src.baseAddress!)), d = UncheckedSendable(dst.baseAddress!)
                let copyStep = (inBytes + cores - 1) / cores, fillStep = (outBytes - inBytes + cores - 1) / cores
                DispatchQueue.concurrentPerform(iterations: cores) { c in
                    let start = c * copyStep, count = min(inBytes, start + copyStep) - start
                    if count > 0 { _ = memcpy(d.value + start, s.value + start, count) }
                    let fill = inBytes + c * fillStep, fillCount = min(outBytes, fill + fillStep) - fill
                    if fillCount > 0 { _ = memset(d.value + fill, 0x3C, fillCount) }
                }
            }
        }
    }
    // The letterbox as the peers are measured (bench/preprocess_peers.py): 20 consecutive runs after
    // 2 warm-ups, median. The no-resize pass and its floor interleaved, so the ratio compares runs
    // under the same machine conditions.
    let letterboxMedian = try medianMilliseconds(runs: 20, warmup: 2) { try letterbox.run(images, into: &letterboxBatch) }
    var plainMs: [Double] = [], floorMs: [Double] = []
    for run in 0..<22 {
        let p = try medianMilliseconds(runs: 1, warmup: 0) { try plain.run(images, into: &plainBatch) }
        let f = medianMilliseconds(runs: 1, warmup: 0) { floorPass() }
        if run >= 2 { plainMs.append(p); floorMs.append(f) }
    }
    func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
    let floorMedian = median(floorMs)

    // Decoding: every JPEG of the folder, one after another on one thread (as a cv2.imread loop).
    let files = try listJPEGs(decodeDirectory)
    let decoder = ImageDecoder(order: .bgr)
    var pixels = 0
    for f in files { pixels += try decoder.decode(file: f).pixels.elementCount / 3 }
    let decodeMs = try medianMilliseconds(runs: 5, warmup: 1) { for f in files { _ = try decoder.decode(file: f) } }
    print("""
        {"letterbox_f16_ms":\(letterboxMedian),"noresize_f16_ms":\(median(plainMs)),\
        "read_bytes":\(inBytes),"written_bytes":\(outBytes),"noresize_bytes_moved":\(inBytes + outBytes),"memcpy_floor_ms":\(floorMedian),\
        "decode_folder_ms":\(decodeMs),"decode_files":\(files.count),"decode_pixels":\(pixels),"threads":\(cores),\
        "kernels":"\(letterbox.kernelName)"}
        """)
}

private func listJPEGs(_ directory: String) throws -> [String] {
    guard let dir = opendir(directory) else { throw ImagingError.unreadable(image: directory, reason: "cannot open the folder") }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name.lowercased().hasSuffix(".jpg") || name.lowercased().hasSuffix(".jpeg") { names.append(directory + "/" + name) }
    }
    return names.sorted()
}
