/// How a session is built, for any backend: only what every backend understands. What is one
/// backend's own (ONNX Runtime's optimization level, providers and library) is carried by that
/// backend's value (`ORTBackend(options:)`); a kind of model a backend must run its own way is
/// asked of it (`Backend.adapted(to:)`).
public struct SessionOptions: Sendable, Equatable {
    /// Threads for one operator; 0 lets the backend choose (one per core).
    public var intraOpThreads: Int = 0

    public init(intraOpThreads: Int = 0) { self.intraOpThreads = intraOpThreads }
}

/// Kinds of model a backend may have to run its own way (a known limit of its kernels).
public struct ModelNeeds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// int8 weights that use all 8 bits, to be computed exactly as the Q/DQ pairs say (what a CPU
    /// with int8 dot products or TensorRT computes), not by kernels that saturate their sums.
    public static let fullRangeInt8Weights = ModelNeeds(rawValue: 1)
    /// int8 layers with the layers between them in float16.
    public static let float16BesideInt8 = ModelNeeds(rawValue: 2)
}
