import FoundationEssentials
import Tensors

/// TensorRT's calibration cache as text: the first line `TRT-<version>-<algorithm>`, then one line
/// per tensor, `name: hhhhhhhh`, the big-endian hex of the float32 *scale* bits (dynamic range =
/// scale × 127). Polygraphy and TensorRT's calibrators read and write it, so ranges move between
/// HalfPipe and them; reading one skips calibration.
public struct CalibrationCache: Sendable, Equatable {
    /// The header as written (`TRT-8601-EntropyCalibration2`).
    public var header: String
    /// Scales by tensor name, in file order.
    public var scales: [(name: String, scale: Float)]

    public static func == (a: Self, b: Self) -> Bool {
        a.header == b.header && a.scales.count == b.scales.count
            && zip(a.scales, b.scales).allSatisfy { $0.name == $1.name && $0.scale.bitPattern == $1.scale.bitPattern }
    }

    /// TensorRT 8.6.1's version number, the one most caches in circulation carry.
    public static let defaultVersion = "8601"

    public init(header: String, scales: [(name: String, scale: Float)]) {
        self.header = header
        self.scales = scales
    }

    /// A cache of symmetric ranges (amax = scale × 127).
    public init(method: CalibrationMethod, ranges: [(name: String, range: TensorRange)], version: String = defaultVersion) {
        header = "TRT-\(version)-\(method.cacheAlgorithm)"
        scales = ranges.map { ($0.name, $0.range.amax / 127) }
    }

    /// The ranges the cache holds: symmetric, ±scale × 127.
    public var ranges: [String: TensorRange] {
        var out: [String: TensorRange] = [:]
        for (name, scale) in scales { out[name] = TensorRange(amax: scale * 127) }
        return out
    }

    /// The cache's text (lines end with a newline, as TensorRT writes them).
    public var text: String {
        var lines = [header]
        for (name, scale) in scales {
            let hex = String(scale.bitPattern, radix: 16)
            lines.append("\(name): \(String(repeating: "0", count: 8 - hex.count))\(hex)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a cache; `source` names it in errors. Tensor names may hold ':' (the value follows the
    /// last ": "); blank lines are skipped.
    public init(parsing text: String, source: String) throws(PrecisionError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first, first.hasPrefix("TRT-"), first.split(separator: "-").count >= 3 else {
            throw .badOption("\(source): not a TensorRT calibration cache: the first line must be TRT-<version>-<algorithm> (e.g. TRT-8601-EntropyCalibration2), found '\(lines.first.map { String($0.prefix(60)) } ?? "")'")
        }
        header = String(first)
        var scales: [(String, Float)] = []
        var seen = Set<String>()
        for (n, line) in lines.enumerated().dropFirst() where !line.allSatisfy(\.isWhitespace) {
            // The last ": " (FoundationEssentials has no backwards search; full Foundation would
            // not fit the static binary).
            let chars = Array(line)
            guard let colon = chars.indices.dropLast().last(where: { chars[$0] == ":" && chars[$0 + 1] == " " }) else {
                throw .badOption("\(source):\(n + 1): expected 'tensor name: hex scale', found '\(line.prefix(80))'")
            }
            let name = String(chars[..<colon])
            let hex = String(chars[(colon + 2)...]).filter { !$0.isWhitespace }
            guard !name.isEmpty, hex.count <= 8, let bits = UInt32(hex, radix: 16) else {
                throw .badOption("\(source):\(n + 1): '\(hex.prefix(20))' is not the 8-digit hex of a float32 scale")
            }
            let scale = Float(bitPattern: bits)
            guard scale.isFinite, scale >= 0 else { throw .badOption("\(source):\(n + 1): scale of '\(name)' is \(scale); a scale must be finite and ≥ 0") }
            guard seen.insert(name).inserted else { throw .badOption("\(source):\(n + 1): tensor '\(name)' appears twice") }
            scales.append((name, scale))
        }
        guard !scales.isEmpty else { throw .badOption("\(source): the calibration cache names no tensors") }
        self.scales = scales
    }

    public static func read(contentsOf path: String) throws -> CalibrationCache {
        try FileBytes.requireFile(path)
        let bytes = try FileBytes.read(path)
        guard let text = String(data: bytes, encoding: .utf8) else { throw PrecisionError.badOption("\(path): the calibration cache is not text") }
        return try CalibrationCache(parsing: text, source: path)
    }
}
