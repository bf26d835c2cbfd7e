// Fuzz target for the model loader: arbitrary bytes through decode, IR construction, type
// inference, validation, summary and re-serialisation. Built with `make fuzz` (libFuzzer,
// -DFUZZING); a plain build replays files given on the command line, for reproducing crashes.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ONNX

func exercise(_ bytes: Data) {
    guard let proto = try? Model.decode(bytes, path: "fuzz-input") else { return }
    let model = Model(proto: proto)
    _ = Validator.validate(model)
    _ = try? ModelSummary(model, path: "fuzz-input")
    _ = try? model.serialized()
    _ = model.fillMissingTypes()
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    exercise(Data(bytes: data, count: size))
    return 0
}
#else
@main
struct LoaderFuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: path)) else { continue }
            exercise(bytes)
        }
    }
}
#endif
