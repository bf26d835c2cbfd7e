import Foundation
import Precision
import Testing

/// TensorRT's calibration cache: written the way TensorRT documents it and read back bit for bit.
struct CalibrationCacheTests {
    /// A cache in the documented format, written by hand: `3c010204` is 1/127 (amax 1.0).
    static let documented = """
        TRT-8601-EntropyCalibration2
        input: 3c010204
        conv1_out: 3d4ccccd
        head/box:0: 3f800000

        """

    @Test func readsTheDocumentedFormat() throws {
        let cache = try CalibrationCache(parsing: Self.documented, source: "hand.cache")
        #expect(cache.header == "TRT-8601-EntropyCalibration2")
        #expect(cache.scales.map(\.name) == ["input", "conv1_out", "head/box:0"])
        let ranges = cache.ranges
        #expect(abs(ranges["input"]!.amax - 1.0) < 1e-6)
        #expect(ranges["conv1_out"]!.amax == Float(bitPattern: 0x3d4c_cccd) * 127)
        #expect(ranges["head/box:0"] == TensorRange(amax: 127))
        // Written back: the same bytes.
        #expect(cache.text == Self.documented)
    }

    @Test func roundTripsByteForByte() throws {
        let ranges: [(name: String, range: TensorRange)] = [("x", TensorRange(amax: 2.5)), ("a:b: c", TensorRange(amax: 1e-30)), ("y", TensorRange(min: -3, max: 1))]
        for method in [CalibrationMethod.entropy, .minMax, .percentile(99.99)] {
            let cache = CalibrationCache(method: method, ranges: ranges, version: "100300")
            let read = try CalibrationCache(parsing: cache.text, source: "t")
            #expect(read == cache)
            #expect(read.text == cache.text)
            #expect(cache.text.hasPrefix("TRT-100300-\(method.cacheAlgorithm)\n"))
            #expect(read.ranges["y"] == TensorRange(amax: 3 / 127 * 127))
        }
    }

    @Test(arguments: [
        ("", "not a TensorRT calibration cache"),
        ("input: 3c010204\n", "not a TensorRT calibration cache"),
        ("TRT-8601-EntropyCalibration2\n", "names no tensors"),
        ("TRT-8601-EntropyCalibration2\ninput 3c010204\n", ":2: expected 'tensor name: hex scale'"),
        ("TRT-8601-EntropyCalibration2\ninput: 3c01020g\n", "is not the 8-digit hex"),
        ("TRT-8601-EntropyCalibration2\ninput: 13c010204\n", "is not the 8-digit hex"),
        ("TRT-8601-EntropyCalibration2\ninput: 7fc00000\n", "must be finite"),
        ("TRT-8601-EntropyCalibration2\ninput: bf800000\n", "must be finite and ≥ 0"),
        ("TRT-8601-EntropyCalibration2\ninput: 3c010204\ninput: 3c010204\n", "appears twice"),
    ])
    func corruptCachesAreClearErrors(text: String, message: String) {
        #expect {
            _ = try CalibrationCache(parsing: text, source: "bad.cache")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("bad.cache")
        }
    }
}
