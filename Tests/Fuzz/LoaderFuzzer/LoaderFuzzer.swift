// Fuzz target for the model loader: arbitrary bytes through decode, IR construction, type
// inference, validation, summary and re-serialisation. Built with `make fuzz` (libFuzzer,
// -DFUZZING); a plain build replays files given on the command line, for reproducing crashes.
import FoundationEssentials
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
/// libFuzzer's entry for programs that bring their own `main` (SwiftPM links every executable's
/// `main` to `<module>_main`, so libFuzzer's own `main` is never pulled in).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("halfpipe_fuzz_loader_main")
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
struct LoaderFuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: path)) else { continue }
            exercise(bytes)
        }
    }
}
#endif
