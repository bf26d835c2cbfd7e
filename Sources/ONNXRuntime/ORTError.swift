/// A failure from ONNX Runtime or from finding and loading it: ORT's own code and message where
/// ORT reported it, and always what was being done.
public struct ORTError: Error, Equatable, CustomStringConvertible, Sendable {
    /// ORT's `OrtErrorCode` names, by value.
    public enum Code: Int32, Sendable {
        case ok = 0, fail, invalidArgument, noSuchFile, noModel, engineError, runtimeException, invalidProtobuf
        case modelLoaded, notImplemented, invalidGraph, epFail
        /// Not an ORT status: the library could not be found or loaded.
        case libraryUnavailable = -1
        /// Not an ORT status: our own check of inputs before calling ORT.
        case badInput = -2
    }
    public var code: Code
    /// ORT's message (or ours, for the non-ORT codes).
    public var message: String
    /// What HalfPipe was doing ("creating a session from model.onnx", "running", …).
    public var operation: String

    public init(code: Code, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    public var description: String {
        switch code {
        case .libraryUnavailable, .badInput: "\(operation): \(message)"
        default: "\(operation): ONNX Runtime error \(code) (\(code.rawValue)): \(message)"
        }
    }
}
