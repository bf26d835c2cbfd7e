import Inference

/// Adding execution providers to session options, with a clear error when the loaded library
/// lacks one (the CPU wheel `onnxruntime` has only the CPU provider).
enum ExecutionProviders {
    static func append(_ provider: ORTOptions.ExecutionProvider, to options: ORTHandle, library: ORTLibrary) throws(ORTError) {
        let api = library.api
        switch provider {
        case .cpu:
            return  // always present; ORT falls back to it for anything other providers do not take
        case .cuda(let device, let extra):
            try appendConfigured("CUDA", api.cudaProvider, settings: ["device_id": String(device)].merging(extra) { _, new in new },
                                 to: options, library: library)
        case .tensorRT(let device, let extra):
            try appendConfigured("TensorRT", api.tensorRTProvider, settings: ["device_id": String(device)].merging(extra) { _, new in new },
                                 to: options, library: library)
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

    /// A provider set up through its options object (CUDA, TensorRT): the CPU wheel's library has
    /// the calls but refuses to create the options, which becomes the "install the wheel" error.
    private static func appendConfigured(_ name: String, _ calls: ORTAPI.ProviderOptionsCalls, settings: [String: String],
                                         to options: ORTHandle, library: ORTLibrary) throws(ORTError) {
        let api = library.api
        var handle: ORTHandle?
        do {
            try api.check(calls.create(&handle), "enabling \(name)")
        } catch {
            throw missing(name, library: library, detail: error.message)
        }
        defer { calls.release(handle) }
        try CStrings.with(Array(settings.keys)) { (keys) throws(ORTError) in
            try CStrings.with(Array(settings.values)) { (values) throws(ORTError) in
                try api.check(calls.update(handle, keys, values, settings.count), "configuring \(name)")
            }
        }
        do {
            try api.check(calls.append(options, handle), "enabling \(name)")
        } catch {
            throw missing(name, library: library, detail: error.message)
        }
    }

    private static func missing(_ name: String, library: ORTLibrary, detail: String) -> ORTError {
        let wheel = ["cuda": "onnxruntime-gpu", "tensorrt": "onnxruntime-gpu", "openvino": "onnxruntime-openvino", "dml": "onnxruntime-directml"][name.lowercased()]
        let needs = name.lowercased() == "tensorrt" ? " and NVIDIA TensorRT's libraries" : ""
        let hint = wheel.map { "; install the `\($0)` wheel\(needs) (and point --ort-library / HALFPIPE_ORT_LIBRARY at its libonnxruntime.so)" } ?? ""
        return ORTError(code: .epFail, message: "execution provider \(name) is not available in ONNX Runtime \(library.version) at \(library.path) (\(detail))\(hint)", operation: "enabling \(name)")
    }
}
