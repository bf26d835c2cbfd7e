import FoundationEssentials
import Inference
import ONNX
import Tensors

/// ONNX Runtime as a backend of the seam: sessions on the CPU (and on a GPU where the loaded library
/// is onnxruntime-gpu), what its kernels accept in float16/bfloat16 (`ORTKernelLimits`), and its
/// refusals read back into the node they name.
public struct ORTBackend: Backend {
    public let name = "onnxruntime"
    /// How its sessions are built; the threads come from each call's `SessionOptions`.
    public let options: ORTOptions
    /// An explicit libonnxruntime.so, else discovery (HALFPIPE_ORT_LIBRARY, .venv, site-packages).
    public var libraryPath: String? { options.libraryPath }

    public init(options: ORTOptions = ORTOptions()) { self.options = options }

    public init(libraryPath: String?) {
        var options = ORTOptions()
        options.libraryPath = libraryPath
        self.init(options: options)
    }

    public func unavailability(on device: Device) -> String? {
        switch device {
        case .cpu:
            do { _ = try ORTLibrary.load(explicitPath: libraryPath) } catch { return error.description }
            return nil
        case .cuda:
            do {
                let library = try ORTLibrary.load(explicitPath: libraryPath)
                return library.hasCUDAProvider ? nil
                    : "ONNX Runtime \(library.version) at \(library.path) runs on the CPU only (the `onnxruntime` wheel has no CUDA provider); "
                        + "install `onnxruntime-gpu` and point HALFPIPE_ORT_LIBRARY at its libonnxruntime.so, or use --device cpu"
            } catch {
                return error.description
            }
        }
    }

    public func mayRefuse(_ node: Node, computing type: DType) -> Bool {
        ORTKernelLimits.mayRefuse(node, computing: type)
    }

    public func supports(_ node: Node, _ context: NodeContext) -> NodeSupport {
        ORTKernelLimits.support(node, context)
    }

    public func makeSession(_ model: ModelSource, device: Device, options common: SessionOptions) throws -> any Session {
        var options = options.merged(common)
        if case .cuda(let n) = device, !options.executionProviders.contains(where: { if case .cuda = $0 { true } else { false } }) {
            options.executionProviders.insert(.cuda(device: n), at: 0)
        }
        switch model {
        case .file(let path):
            do { try FileBytes.requireFile(path) } catch {
                throw ORTError(code: .badInput, message: "\(error)", operation: "loading the model")
            }
            return try ORTSession(contentsOf: path, options: options)
        case .bytes(let data, let name):
            return try ORTSession(serialized: data, options: options, name: name)
        }
    }

    /// ONNX Runtime 1.31's limits on models made for other hardware, measured on x86:
    /// - its fused int8 kernels on CPUs without VNNI sum u8×s8 pairs in 16 bits (vpmaddubsw), which
    ///   saturate with 8-bit weights: below its QDQ fusion (level basic) the model's own Q/DQ
    ///   arithmetic runs, what a CPU with VNNI or TensorRT computes;
    /// - its layout optimizations (level all) build an invalid Gather on float16 QDQ graphs; its
    ///   other levels run them.
    public func adapted(to needs: ModelNeeds) -> (backend: any Backend, note: String?) {
        var options = options
        var note: String?
        if needs.contains(.fullRangeInt8Weights) && !CPUFeatures.hasInt8DotProduct && options.optimizationLevel != .disabled {
            options.optimizationLevel = .basic
        }
        if needs.contains(.float16BesideInt8) {
            note = "ONNX Runtime 1.31 on the CPU runs this float16/int8 model only below its layout optimizations (--optimization extended); TensorRT and GPUs take it as it is"
            if options.optimizationLevel == .all { options.optimizationLevel = .extended }
        }
        return (ORTBackend(options: options), note)
    }

    public func refusal(in error: any Error) -> NodeRefusal? {
        guard let error = error as? ORTError else { return nil }
        return Self.refusal(in: error.message)
    }

    /// ORT names the node in both kinds of refusal:
    /// - at run time: `Non-zero status code returned while running Resize node. Name:'r' Status Message: …`
    /// - at load: `Could not find an implementation for Resize(19) node with name 'r'`
    static func refusal(in message: String) -> NodeRefusal? {
        if let op = between(message, "while running ", " node."), let name = between(message, "Name:'", "'") {
            let detail = after(message, "Status Message: ") ?? message
            return NodeRefusal(nodeName: name, opType: op, message: detail)
        }
        // Kernel set-up failures at load name no node, only the op ("…\nin the Resize operator"):
        // matched by words, since ORT puts a line break, not a space, before "in".
        if includes(message, "Exception during initialization"), let op = wordBetween(message, ["in", "the"], "operator") {
            return NodeRefusal(nodeName: nil, opType: op, message: message)
        }
        if let found = between(message, "Could not find an implementation for ", " node with name '") {
            let op = found.split(separator: "(").first.map(String.init) ?? found
            let name = between(message, " node with name '", "'")
            return NodeRefusal(nodeName: name, opType: op, message: message)
        }
        return nil
    }

    /// The one word between the words `before` and the word `after`, wherever whitespace splits them.
    private static func wordBetween(_ text: String, _ before: [String], _ after: String) -> String? {
        let words = text.split(whereSeparator: \.isWhitespace)
        let n = before.count
        guard words.count > n + 1 else { return nil }
        for i in 0..<(words.count - n - 1) where words[i + n + 1] == after && zip(words[i..<(i + n)], before).allSatisfy({ $0 == $1 }) {
            return String(words[i + n])
        }
        return nil
    }

    private static func includes(_ text: String, _ needle: String) -> Bool { text.utf8.firstRange(of: needle.utf8) != nil }

    private static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let a = text.utf8.firstRange(of: start.utf8) else { return nil }
        let rest = text.utf8[a.upperBound...]
        guard let b = rest.firstRange(of: end.utf8) else { return nil }
        return String(text[a.upperBound..<b.lowerBound])
    }

    private static func after(_ text: String, _ start: String) -> String? {
        guard let a = text.utf8.firstRange(of: start.utf8) else { return nil }
        return String(text[a.upperBound...])
    }
}

extension ORTLibrary {
    /// Whether this build of ORT has the CUDA execution provider (the CPU wheel has the entry points
    /// but refuses to create its options).
    var hasCUDAProvider: Bool {
        var handle: ORTHandle?
        let status = api.cudaProvider.create(&handle)
        if let status {
            api.releaseStatus(status)
            return false
        }
        api.cudaProvider.release(handle)
        return true
    }
}
