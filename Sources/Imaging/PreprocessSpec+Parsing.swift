import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The spec's values as people type them: sizes "640" or "384x640" (height x width), numbers
/// "0.5" or "1/255", per-channel values "0.485,0.456,0.406" (one value stands for all three).
extension PreprocessSpec {
    public static func parseSize(_ text: String) throws(ImagingError) -> (height: Int, width: Int) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let h = Int(parts[0]), let w = Int(parts.last!), h > 0, w > 0 else {
            throw .invalidSpec("size \"\(text)\": use N for a square or HEIGHTxWIDTH, e.g. 640 or 384x640")
        }
        return (h, w)
    }

    public static func parseNumber(_ text: String, name: String) throws(ImagingError) -> Double {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let n = Double(parts[0]), let d = Double(parts[1]), d != 0 { return n / d }
        if parts.count == 1, let v = Double(text), v.isFinite { return v }
        throw .invalidSpec("\(name) \"\(text)\": use a number such as 0.5 or a fraction such as 1/255")
    }

    public static func parseChannels(_ text: String, name: String) throws(ImagingError) -> [Double] {
        let values = try text.split(separator: ",").map { (part) throws(ImagingError) in
            try parseNumber(String(part.filter { $0 != " " }), name: name)
        }
        guard values.count == 1 || values.count == 3 else {
            throw .invalidSpec("\(name) \"\(text)\": give one value or three, comma-separated (R,G,B in the model's order)")
        }
        return values.count == 1 ? Array(repeating: values[0], count: 3) : values
    }

    /// A spec from its JSON form (the fields of this type; omitted ones keep their defaults).
    public static func decodeJSON(_ data: Data, source: String) throws(ImagingError) -> PreprocessSpec {
        do { return try JSONDecoder().decode(PreprocessSpec.self, from: data) } catch {
            throw .invalidSpec("\(source): \(error)")
        }
    }

    public func encodeJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

extension PreprocessSpec {
    // Decoding with defaults: a JSON spec names only what differs from the defaults.
    enum CodingKeys: String, CodingKey {
        case height, width, resize, rounding, pad, padValue, interpolation, allowUpscale, resizeShorter
        case order, scale, mean, std, layout, dtype, int8Scale, int8ZeroPoint
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(height: try c.decode(Int.self, forKey: .height), width: try c.decode(Int.self, forKey: .width))
        resize = try c.decodeIfPresent(ResizeMode.self, forKey: .resize) ?? resize
        rounding = try c.decodeIfPresent(Rounding.self, forKey: .rounding) ?? rounding
        pad = try c.decodeIfPresent(PadPlacement.self, forKey: .pad) ?? pad
        padValue = try c.decodeIfPresent(Double.self, forKey: .padValue) ?? padValue
        interpolation = try c.decodeIfPresent(Interpolation.self, forKey: .interpolation) ?? interpolation
        allowUpscale = try c.decodeIfPresent(Bool.self, forKey: .allowUpscale) ?? allowUpscale
        resizeShorter = try c.decodeIfPresent(Int.self, forKey: .resizeShorter)
        order = try c.decodeIfPresent(ChannelOrder.self, forKey: .order) ?? order
        scale = try c.decodeIfPresent(Double.self, forKey: .scale) ?? scale
        mean = try c.decodeIfPresent([Double].self, forKey: .mean) ?? mean
        std = try c.decodeIfPresent([Double].self, forKey: .std) ?? std
        layout = try c.decodeIfPresent(Layout.self, forKey: .layout) ?? layout
        dtype = try c.decodeIfPresent(OutputType.self, forKey: .dtype) ?? dtype
        int8Scale = try c.decodeIfPresent(Double.self, forKey: .int8Scale) ?? int8Scale
        int8ZeroPoint = try c.decodeIfPresent(Int.self, forKey: .int8ZeroPoint) ?? int8ZeroPoint
    }
}

extension PreprocessSpec.OutputType {
    /// The type's name, or numpy's and PyTorch's short names for it (fp16, half, bf16, u8 …).
    public init?(parsing text: String) {
        let aliases: [String: Self] = ["fp32": .float32, "f32": .float32, "fp16": .float16, "f16": .float16,
                                       "half": .float16, "bf16": .bfloat16, "u8": .uint8, "i8": .int8]
        guard let type = Self(rawValue: text.lowercased()) ?? aliases[text.lowercased()] else { return nil }
        self = type
    }
}

extension PreprocessSpec {
    /// Refuses a batch larger than the machine's memory before allocating it (an overcommitted
    /// allocation would be killed later, not refused).
    public func requireHostMemory(batch size: Int) throws(ImagingError) {
        let batchBytes = Double(size) * 3 * Double(height) * Double(width) * Double(dtype.dtype.byteCount(elements: 1) ?? 4)
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        guard physical <= 0 || batchBytes < physical else {
            throw .badTensor("--batch \(size): the batch needs \(Int(batchBytes / 1e9)) GB, more than this machine's \(Int(physical / 1e9)) GB of memory")
        }
    }
}
