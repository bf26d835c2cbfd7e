/// Bad requests to the inference layer: a device string or a device no backend serves.
public enum InferenceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A `--device` value that does not parse, or names a GPU the machine lacks.
    case badDevice(String)
    /// No backend runs models on the device asked for.
    case noBackend(String)
    /// A session asked to keep its data on a device that cannot (host backend, nodes on the host).
    case notOnDevice(String)

    public var description: String {
        switch self {
        case .badDevice(let m), .noBackend(let m), .notOnDevice(let m): m
        }
    }
}
