import ArgumentParser
import Detection
import Imaging
import Inference
import ONNXRuntime
import Pipeline
import Precision

// The closed sets the options take, typed: the parser rejects anything else and every help text
// lists the values. Devices are parsed once, by `DeviceSelection`.

extension DeviceSelection: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { ["cpu", "cuda", "cuda:N", "cuda:all"] }
    public static var defaultCompletionKind: CompletionKind { .list(["cpu", "cuda", "cuda:0", "cuda:all"]) }
}

/// `--device` for commands that run on one device.
extension Device: ExpressibleByArgument {
    public init?(argument: String) {
        guard case .one(let device)? = try? DeviceSelection(parsing: argument) else { return nil }
        self = device
    }
    public static var allValueStrings: [String] { ["cpu", "cuda", "cuda:N"] }
}

extension PostprocessPlace: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "auto": self = .auto
        case "cpu": self = .cpu
        default:
            guard case .one(.cuda(let n))? = try? DeviceSelection(parsing: argument) else { return nil }
            self = .cuda(n)
        }
    }
    public static var allValueStrings: [String] { ["auto", "cpu", "cuda", "cuda:N"] }
}

extension DecodePlace: ExpressibleByArgument {}
extension TinyValuePolicy: ExpressibleByArgument {}
extension ORTOptions.OptimizationLevel: ExpressibleByArgument {}

/// `detect --decoder`: auto, or one of the head layouts.
enum DecoderChoice: Equatable, CaseIterable, ExpressibleByArgument {
    case auto
    case layout(HeadLayout)

    static var allCases: [DecoderChoice] { [.auto] + HeadLayout.allCases.map(DecoderChoice.layout) }

    init?(argument: String) {
        if argument == "auto" { self = .auto } else if let layout = HeadLayout(rawValue: argument) { self = .layout(layout) } else { return nil }
    }

    var defaultValueDescription: String { "auto" }
    static var allValueStrings: [String] { ["auto"] + HeadLayout.allCases.map(\.rawValue) }

    var layout: HeadLayout? { if case .layout(let l) = self { l } else { nil } }
}

/// `preprocess --dtype`: the output element types, with numpy's short names accepted.
extension PreprocessSpec.OutputType: ExpressibleByArgument {
    public init?(argument: String) {
        guard let type = PreprocessSpec.OutputType(parsing: argument) else { return nil }
        self = type
    }
}

/// `quantize --calibrator`, with the other names `CalibrationMethod` knows (kl, min-max, max).
enum CalibratorName: String, CaseIterable, ExpressibleByArgument {
    case entropy, minmax, percentile

    init?(argument: String) {
        switch CalibrationMethod(name: argument) {
        case .entropy?: self = .entropy
        case .minMax?: self = .minmax
        case .percentile?: self = .percentile
        case nil: return nil
        }
    }
}

/// `quantize --rest`: what the layers left in float compute in.
enum RestPrecision: String, CaseIterable, ExpressibleByArgument {
    case fp32, fp16
}

/// `quantize --weight-bits`.
enum WeightBits: Int, CaseIterable, ExpressibleByArgument {
    case seven = 7, eight = 8
    init?(argument: String) { self.init(rawValue: Int(argument) ?? 0) }
    var defaultValueDescription: String { "\(rawValue)" }
    static var allValueStrings: [String] { ["7", "8"] }
}

/// `convert --to`.
enum ConversionTarget: String, CaseIterable, ExpressibleByArgument {
    case fp16, bf16, mixed
    case mixedInt8 = "mixed-int8"

    init?(argument: String) {
        switch argument.lowercased() {
        case "fp16", "float16": self = .fp16
        case "bf16", "bfloat16": self = .bf16
        default: self.init(rawValue: argument.lowercased())
        }
    }
}

/// `convert --external-data`.
enum ExternalDataChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, always, never
}

extension PreprocessSpec.ResizeMode: ExpressibleByArgument {}
extension PreprocessSpec.Rounding: ExpressibleByArgument {}
extension PreprocessSpec.PadPlacement: ExpressibleByArgument {}
extension PreprocessSpec.Interpolation: ExpressibleByArgument {}
extension PreprocessSpec.Layout: ExpressibleByArgument {}
extension ChannelOrder: ExpressibleByArgument {}
