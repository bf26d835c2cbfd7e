import Foundation
import Imaging
import Tensors
import TestSupport
import Testing

/// The OpenCV/Pillow reference data of scripts/make-imaging-reference.py (made by `make test`).
enum ImagingReference {
    static var root: URL { TestMaterial.packageRoot.appendingPathComponent(".cache/reference/imaging") }

    static func url(_ relative: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("imaging reference data missing: \(url.path) — run `make reference`")
            throw TestMaterial.MissingMaterial()
        }
        return url
    }

    static func json<T: Decodable>(_ relative: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(relative)))
    }

    static func array(_ relative: String) throws -> Tensor {
        try NPY.read(contentsOf: url(relative).path)
    }

    static func bytes(_ tensor: Tensor) -> [UInt8] {
        tensor.withUnsafeBytes { Array($0) }
    }

    /// HWC uint8 with the channel order reversed (OpenCV's BGR to RGB).
    static func reversedChannels(_ tensor: Tensor) -> [UInt8] {
        var b = bytes(tensor)
        for i in stride(from: 0, to: b.count, by: 3) { b.swapAt(i, i + 2) }
        return b
    }
}

/// A seeded random uint8 HWC image, for sweeps where the content does not matter.
func randomImage(height: Int, width: Int, seed: UInt64, order: ChannelOrder = .rgb) throws -> Image {
    var generator = SeededGenerator(seed: seed)
    let values = (0..<(height * width * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return try Image(pixels: Tensor(shape: [height, width, 3], elements: values), order: order)
}
