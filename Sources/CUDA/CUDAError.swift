/// A failed CUDA driver or NVRTC call: the function, CUDA's code, its name and message, and for a
/// failed compilation the compiler's log. `noDevice` and `libraryUnavailable` tell callers to fall
/// back to the CPU.
public struct CUDAError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// libcuda or libnvrtc could not be loaded, or lacks a symbol.
        case libraryUnavailable
        /// The driver found no usable GPU (CUDA_ERROR_NO_DEVICE, or a device index out of range).
        case noDevice
        /// Device memory ran out (CUDA_ERROR_OUT_OF_MEMORY).
        case outOfMemory
        /// NVRTC could not compile a kernel (the log says why).
        case compile
        /// Any other driver or NVRTC failure.
        case call
        /// Arguments the caller got wrong (shapes, sizes).
        case badInput
    }

    public let kind: Kind
    public let function: String
    /// The CUresult / nvrtcResult value, when a call returned one.
    public let code: Int32?
    /// CUDA's name for the code ("CUDA_ERROR_OUT_OF_MEMORY"), when known.
    public let codeName: String?
    public let message: String
    public let log: String?

    /// For the domain layers beside CUDA (`ImagingCUDA`), whose bad input is a CUDA-layer error too.
    package init(_ kind: Kind, function: String, code: Int32? = nil, codeName: String? = nil, message: String, log: String? = nil) {
        self.kind = kind; self.function = function; self.code = code; self.codeName = codeName
        self.message = message; self.log = log
    }

    /// The error for a CUresult, classified by the codes callers act on.
    static func driver(_ code: CUResult, function: String, name: String?, message: String?) -> CUDAError {
        let kind: Kind = switch code {
        case 100, 101: .noDevice         // CUDA_ERROR_NO_DEVICE, CUDA_ERROR_INVALID_DEVICE
        case 2: .outOfMemory            // CUDA_ERROR_OUT_OF_MEMORY
        default: .call
        }
        return CUDAError(kind, function: function, code: code, codeName: name ?? "CUresult \(code)", message: message ?? "unknown CUDA error")
    }

    public var description: String {
        var text = "\(function) failed"
        if let codeName { text += ": \(codeName)" }
        if let code, codeName == nil { text += " (code \(code))" }
        text += ": \(message)"
        if let log, !log.isEmpty { text += "\ncompiler log:\n\(log)" }
        return text
    }
}
