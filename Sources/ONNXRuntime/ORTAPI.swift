// The only file that knows ONNX Runtime's C signatures: our own declarations of the OrtApi slots
// we call (positions and signatures from shared/reference/onnxruntime-c-api.md, checked against
// the real 1.31.1 library by the tests). Every other file uses these typed wrappers.
#if canImport(Glibc)
import Inference
import Glibc
#endif

typealias ORTStatus = OpaquePointer
typealias ORTHandle = OpaquePointer
typealias OutHandle = UnsafeMutablePointer<OpaquePointer?>

/// ORT's function table, read slot by slot.
struct ORTAPI: @unchecked Sendable {
    /// The API version this code was written against (1.31.1 supports 1…31).
    static let requestedVersion: UInt32 = 21
    let table: UnsafePointer<UnsafeRawPointer?>
    let versionString: String

    private func slot<F>(_ index: Int, as type: F.Type) -> F {
        guard let pointer = table[index] else { fatalError("OrtApi slot \(index) is empty: the library is older than API \(Self.requestedVersion)") }
        return unsafeBitCast(pointer, to: F.self)
    }

    // Status (0–2, 93)
    var getErrorCode: @convention(c) (ORTStatus?) -> Int32 { slot(1, as: (@convention(c) (ORTStatus?) -> Int32).self) }
    var getErrorMessage: @convention(c) (ORTStatus?) -> UnsafePointer<CChar>? { slot(2, as: (@convention(c) (ORTStatus?) -> UnsafePointer<CChar>?).self) }
    var releaseStatus: @convention(c) (ORTStatus?) -> Void { slot(93, as: (@convention(c) (ORTStatus?) -> Void).self) }

    // Environment and sessions (3, 7–9)
    var createEnv: @convention(c) (Int32, UnsafePointer<CChar>?, OutHandle?) -> ORTStatus? { slot(3, as: (@convention(c) (Int32, UnsafePointer<CChar>?, OutHandle?) -> ORTStatus?).self) }
    var createSession: @convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?, OutHandle?) -> ORTStatus? {
        slot(7, as: (@convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?, OutHandle?) -> ORTStatus?).self)
    }
    var createSessionFromArray: @convention(c) (ORTHandle?, UnsafeRawPointer?, Int, ORTHandle?, OutHandle?) -> ORTStatus? {
        slot(8, as: (@convention(c) (ORTHandle?, UnsafeRawPointer?, Int, ORTHandle?, OutHandle?) -> ORTStatus?).self)
    }
    typealias RunFunction = @convention(c) (
        ORTHandle?, ORTHandle?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<ORTHandle?>?, Int,
        UnsafePointer<UnsafePointer<CChar>?>?, Int, OutHandle?
    ) -> ORTStatus?
    var run: RunFunction { slot(9, as: RunFunction.self) }

    // Session options (10, 11, 23, 24, 216)
    var createSessionOptions: @convention(c) (OutHandle?) -> ORTStatus? { slot(10, as: (@convention(c) (OutHandle?) -> ORTStatus?).self) }
    var setOptimizedModelFilePath: @convention(c) (ORTHandle?, UnsafePointer<CChar>?) -> ORTStatus? { slot(11, as: (@convention(c) (ORTHandle?, UnsafePointer<CChar>?) -> ORTStatus?).self) }
    var setGraphOptimizationLevel: @convention(c) (ORTHandle?, Int32) -> ORTStatus? { slot(23, as: (@convention(c) (ORTHandle?, Int32) -> ORTStatus?).self) }
    var setIntraOpNumThreads: @convention(c) (ORTHandle?, Int32) -> ORTStatus? { slot(24, as: (@convention(c) (ORTHandle?, Int32) -> ORTStatus?).self) }
    typealias AppendProviderFunction = @convention(c) (ORTHandle?, UnsafePointer<CChar>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus?
    var appendExecutionProvider: AppendProviderFunction { slot(216, as: AppendProviderFunction.self) }

    // Sequences and optionals (80, 81, 82, 192): read a sequence's elements, build a sequence,
    // ask whether an optional holds a value.
    var getValue: @convention(c) (ORTHandle?, Int32, ORTHandle?, OutHandle?) -> ORTStatus? { slot(80, as: (@convention(c) (ORTHandle?, Int32, ORTHandle?, OutHandle?) -> ORTStatus?).self) }
    var getValueCount: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus? { slot(81, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus?).self) }
    typealias CreateValueFunction = @convention(c) (UnsafePointer<ORTHandle?>?, Int, Int32, OutHandle?) -> ORTStatus?
    var createValue: CreateValueFunction { slot(82, as: CreateValueFunction.self) }
    var hasValue: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus? { slot(192, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus?).self) }
    // A sequence input's element type (104, 107; the element TypeInfo is released with 98).
    var castTypeInfoToSequenceTypeInfo: @convention(c) (ORTHandle?, OutHandle?) -> ORTStatus? { slot(104, as: (@convention(c) (ORTHandle?, OutHandle?) -> ORTStatus?).self) }
    var getSequenceElementType: @convention(c) (ORTHandle?, OutHandle?) -> ORTStatus? { slot(107, as: (@convention(c) (ORTHandle?, OutHandle?) -> ORTStatus?).self) }

    // Providers configured through an options object: create, update (keys, values), append, release.
    // CUDA: 205, 206, 204, 208. TensorRT: 171, 172, 170, 174.
    typealias UpdateProviderOptionsFunction = @convention(c) (ORTHandle?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus?
    struct ProviderOptionsCalls {
        let create: @convention(c) (OutHandle?) -> ORTStatus?
        let update: UpdateProviderOptionsFunction
        let append: @convention(c) (ORTHandle?, ORTHandle?) -> ORTStatus?
        let release: @convention(c) (ORTHandle?) -> Void
    }
    private func providerOptionsCalls(create: Int, update: Int, append: Int, release: Int) -> ProviderOptionsCalls {
        ProviderOptionsCalls(create: slot(create, as: (@convention(c) (OutHandle?) -> ORTStatus?).self),
                             update: slot(update, as: UpdateProviderOptionsFunction.self),
                             append: slot(append, as: (@convention(c) (ORTHandle?, ORTHandle?) -> ORTStatus?).self),
                             release: slot(release, as: (@convention(c) (ORTHandle?) -> Void).self))
    }
    var cudaProvider: ProviderOptionsCalls { providerOptionsCalls(create: 205, update: 206, append: 204, release: 208) }
    var tensorRTProvider: ProviderOptionsCalls { providerOptionsCalls(create: 171, update: 172, append: 170, release: 174) }

    // Session metadata (30, 31, 33, 34, 36, 37)
    var sessionGetInputCount: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus? { slot(30, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus?).self) }
    var sessionGetOutputCount: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus? { slot(31, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus?).self) }
    var sessionGetInputTypeInfo: @convention(c) (ORTHandle?, Int, OutHandle?) -> ORTStatus? { slot(33, as: (@convention(c) (ORTHandle?, Int, OutHandle?) -> ORTStatus?).self) }
    var sessionGetOutputTypeInfo: @convention(c) (ORTHandle?, Int, OutHandle?) -> ORTStatus? { slot(34, as: (@convention(c) (ORTHandle?, Int, OutHandle?) -> ORTStatus?).self) }
    typealias NameFunction = @convention(c) (ORTHandle?, Int, ORTHandle?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> ORTStatus?
    var sessionGetInputName: NameFunction { slot(36, as: NameFunction.self) }
    var sessionGetOutputName: NameFunction { slot(37, as: NameFunction.self) }

    // Values and tensors (48, 49, 51–56, 60–63, 65, 67)
    var createTensorAsOrtValue: @convention(c) (ORTHandle?, UnsafePointer<Int64>?, Int, Int32, OutHandle?) -> ORTStatus? {
        slot(48, as: (@convention(c) (ORTHandle?, UnsafePointer<Int64>?, Int, Int32, OutHandle?) -> ORTStatus?).self)
    }
    var createTensorWithDataAsOrtValue: @convention(c) (ORTHandle?, UnsafeMutableRawPointer?, Int, UnsafePointer<Int64>?, Int, Int32, OutHandle?) -> ORTStatus? {
        slot(49, as: (@convention(c) (ORTHandle?, UnsafeMutableRawPointer?, Int, UnsafePointer<Int64>?, Int, Int32, OutHandle?) -> ORTStatus?).self)
    }
    var getTensorMutableData: @convention(c) (ORTHandle?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> ORTStatus? {
        slot(51, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> ORTStatus?).self)
    }
    var fillStringTensor: @convention(c) (ORTHandle?, UnsafePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus? {
        slot(52, as: (@convention(c) (ORTHandle?, UnsafePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus?).self)
    }
    var getStringTensorDataLength: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus? { slot(53, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus?).self) }
    var getStringTensorContent: @convention(c) (ORTHandle?, UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<Int>?, Int) -> ORTStatus? {
        slot(54, as: (@convention(c) (ORTHandle?, UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<Int>?, Int) -> ORTStatus?).self)
    }
    var castTypeInfoToTensorInfo: @convention(c) (ORTHandle?, OutHandle?) -> ORTStatus? { slot(55, as: (@convention(c) (ORTHandle?, OutHandle?) -> ORTStatus?).self) }
    var getOnnxTypeFromTypeInfo: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus? { slot(56, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus?).self) }
    var getTensorElementType: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus? { slot(60, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus?).self) }
    var getDimensionsCount: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus? { slot(61, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int>?) -> ORTStatus?).self) }
    var getDimensions: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int64>?, Int) -> ORTStatus? { slot(62, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int64>?, Int) -> ORTStatus?).self) }
    var getSymbolicDimensions: @convention(c) (ORTHandle?, UnsafeMutablePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus? {
        slot(63, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<UnsafePointer<CChar>?>?, Int) -> ORTStatus?).self)
    }
    var getTensorTypeAndShape: @convention(c) (ORTHandle?, OutHandle?) -> ORTStatus? { slot(65, as: (@convention(c) (ORTHandle?, OutHandle?) -> ORTStatus?).self) }
    var getValueType: @convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus? { slot(67, as: (@convention(c) (ORTHandle?, UnsafeMutablePointer<Int32>?) -> ORTStatus?).self) }

    // Memory (69, 76, 78)
    var createCpuMemoryInfo: @convention(c) (Int32, Int32, OutHandle?) -> ORTStatus? { slot(69, as: (@convention(c) (Int32, Int32, OutHandle?) -> ORTStatus?).self) }
    var allocatorFree: @convention(c) (ORTHandle?, UnsafeMutableRawPointer?) -> ORTStatus? { slot(76, as: (@convention(c) (ORTHandle?, UnsafeMutableRawPointer?) -> ORTStatus?).self) }
    var getAllocatorWithDefaultOptions: @convention(c) (OutHandle?) -> ORTStatus? { slot(78, as: (@convention(c) (OutHandle?) -> ORTStatus?).self) }

    // Releases (92, 94–100, 135)
    private func release(_ index: Int) -> @convention(c) (ORTHandle?) -> Void { slot(index, as: (@convention(c) (ORTHandle?) -> Void).self) }
    var releaseEnv: @convention(c) (ORTHandle?) -> Void { release(92) }
    var releaseMemoryInfo: @convention(c) (ORTHandle?) -> Void { release(94) }
    var releaseSession: @convention(c) (ORTHandle?) -> Void { release(95) }
    var releaseValue: @convention(c) (ORTHandle?) -> Void { release(96) }
    var releaseTypeInfo: @convention(c) (ORTHandle?) -> Void { release(98) }
    var releaseTensorTypeAndShapeInfo: @convention(c) (ORTHandle?) -> Void { release(99) }
    var releaseSessionOptions: @convention(c) (ORTHandle?) -> Void { release(100) }
    var releaseIoBinding: @convention(c) (ORTHandle?) -> Void { release(135) }

    // I/O binding (133, 134, 136, 137, 140)
    var runWithBinding: @convention(c) (ORTHandle?, ORTHandle?, ORTHandle?) -> ORTStatus? { slot(133, as: (@convention(c) (ORTHandle?, ORTHandle?, ORTHandle?) -> ORTStatus?).self) }
    var createIoBinding: @convention(c) (ORTHandle?, OutHandle?) -> ORTStatus? { slot(134, as: (@convention(c) (ORTHandle?, OutHandle?) -> ORTStatus?).self) }
    var bindInput: @convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?) -> ORTStatus? { slot(136, as: (@convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?) -> ORTStatus?).self) }
    var bindOutput: @convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?) -> ORTStatus? { slot(137, as: (@convention(c) (ORTHandle?, UnsafePointer<CChar>?, ORTHandle?) -> ORTStatus?).self) }
}
