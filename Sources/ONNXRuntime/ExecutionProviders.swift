/// Adding execution providers to session options, with a clear error when the loaded library
/// lacks one (the CPU wheel `onnxruntime` has only the CPU provider).
enum ExecutionProviders {
    static func append(_ provider: SessionOptions.ExecutionProvider, to options: ORTHandle, library: ORTLibrary) throws(ORTError) {
        let api = library.api
        switch provider {
        case .cpu:
            return  // always present; ORT falls back to it for anything other providers do not take
        case .cuda(let device, let extra):
            var cuda: ORTHandle?
            do {
                try api.check(api.createCUDAProviderOptions(&cuda), "enabling CUDA")
            } catch {
                throw missing("CUDA", library: library, detail: error.message)
            }
            defer { api.releaseCUDAProviderOptions(cuda) }
            let settings = ["device_id": String(device)].merging(extra) { _, new in new }
            try CStrings.with(Array(settings.keys)) { (keys) throws(ORTError) in
                try CStrings.with(Array(settings.values)) { (values) throws(ORTError) in
                    try api.check(api.updateCUDAProviderOptions(cuda, keys, values, settings.count), "configuring CUDA")
                }
            }
            do {
                try api.check(api.appendCUDAProviderV2(options, cuda), "enabling CUDA")
            } catch {
                throw missing("CUDA", library: library, detail: error.message)
            }
        case .named(let name, let settings):
            do {
                try CStrings.with(Array(settings.keys)) { (keys) throws(ORTError) in
                    try CStrings.with(Array(settings.values)) { (values) throws(ORTError) in
                        try api.check(api.appendExecutionProvider(options, name, keys, values, settings.count), "enabling \(name)")
                    }
                }
            } catch {
                throw missing(name, library: library, detail: error.message)
            }
        }
    }

    private static func missing(_ name: String, library: ORTLibrary, detail: String) -> ORTError {
        let wheel = ["cuda": "onnxruntime-gpu", "tensorrt": "onnxruntime-gpu", "openvino": "onnxruntime-openvino", "dml": "onnxruntime-directml"][name.lowercased()]
        let hint = wheel.map { "; install the `\($0)` wheel (and point --ort-library / HALFPIPE_ORT_LIBRARY at its libonnxruntime.so)" } ?? ""
        return ORTError(code: .epFail, message: "execution provider \(name) is not available in ONNX Runtime \(library.version) at \(library.path) (\(detail))\(hint)", operation: "enabling \(name)")
    }
}
