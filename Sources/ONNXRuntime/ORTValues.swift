#if canImport(Glibc)
import Inference
import Glibc
#endif
import Tensors

/// Converting between our `Tensor` and ORT's `OrtValue`.
enum ORTValues {
    /// Calls `body` with an OrtValue per tensor. Numeric tensors are wrapped without copying (their
    /// buffers stay alive for the whole call); string tensors are copied into ORT-owned values.
    static func withInputValues(
        _ tensors: [Tensor], library: ORTLibrary, into list: ORTValueList,
        _ body: ([ORTHandle?]) throws(ORTError) -> Void
    ) throws(ORTError) {
        try wrap(tensors[...], library: library, list: list, made: [], body)
    }

    private static func wrap(
        _ rest: ArraySlice<Tensor>, library: ORTLibrary, list: ORTValueList, made: [ORTHandle?],
        _ body: ([ORTHandle?]) throws(ORTError) -> Void
    ) throws(ORTError) {
        guard let tensor = rest.first else { return try body(made) }
        let api = library.api
        let shape = tensor.shape.dimensions.map(Int64.init)
        var value: ORTHandle?
        if tensor.dtype == .string {
            try api.check(api.createTensorAsOrtValue(library.allocator, shape, shape.count, DType.string.rawValue, &value), "creating a string tensor")
            list.append(value)
            // ORT takes NUL-terminated strings: bytes after an embedded NUL are not representable.
            try CStrings.with(tensor.strings.map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }) { (pointers) throws(ORTError) in
                try api.check(api.fillStringTensor(value, pointers, tensor.strings.count), "filling a string tensor")
            }
            return try wrap(rest.dropFirst(), library: library, list: list, made: made + [value], body)
        }
        // The scope of the pointer spans the rest of the recursion, so ORT reads live memory.
        let result: Result<Void, ORTError> = tensor.withUnsafeBytes { raw in
            Result { () throws(ORTError) in
                let status = shape.withUnsafeBufferPointer { dims in
                    api.createTensorWithDataAsOrtValue(library.cpuMemoryInfo, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, dims.baseAddress, dims.count, tensor.dtype.rawValue, &value)
                }
                try api.check(status, "wrapping a \(tensor.dtype) tensor of shape \(tensor.shape)")
                list.append(value)
                try wrap(rest.dropFirst(), library: library, list: list, made: made + [value], body)
            }
        }
        try result.get()
    }

    /// Copies an ORT output value into a new tensor.
    static func tensor(from value: ORTHandle, library: ORTLibrary, name: String) throws(ORTError) -> Tensor {
        let api = library.api
        var onnxType: Int32 = 0
        try api.check(api.getValueType(value, &onnxType), "reading output '\(name)'")
        guard onnxType == 1 else {  // ONNX_TYPE_TENSOR
            let kind = [2: "a sequence", 3: "a map", 5: "a sparse tensor", 6: "an optional"][onnxType] ?? "a non-tensor value"
            throw ORTError(code: .badInput, message: "output '\(name)' is \(kind); only tensor outputs are supported", operation: "reading outputs")
        }
        var info: ORTHandle?
        try api.check(api.getTensorTypeAndShape(value, &info), "reading output '\(name)'")
        defer { api.releaseTensorTypeAndShapeInfo(info) }
        let (dtype, dims, _) = try typeAndShape(info!, api: api, name: name)
        guard let dtype else { throw ORTError(code: .badInput, message: "output '\(name)' has an element type HalfPipe does not know", operation: "reading outputs") }
        let shape: Shape
        do { shape = try Shape(dims.map(Int.init)) } catch { throw ORTError(code: .fail, message: "\(error)", operation: "reading output '\(name)'") }
        if dtype == .string { return try strings(from: value, shape: shape, api: api, name: name) }
        var data: UnsafeMutableRawPointer?
        try api.check(api.getTensorMutableData(value, &data), "reading output '\(name)'")
        let bytes = dtype.byteCount(elements: shape.elementCount) ?? 0
        do {
            return try Tensor(dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(start: bytes == 0 ? nil : data, count: bytes))
        } catch {
            throw ORTError(code: .fail, message: "\(error)", operation: "reading output '\(name)'")
        }
    }

    private static func strings(from value: ORTHandle, shape: Shape, api: ORTAPI, name: String) throws(ORTError) -> Tensor {
        let count = shape.elementCount
        var total = 0
        try api.check(api.getStringTensorDataLength(value, &total), "reading string output '\(name)'")
        var buffer = [UInt8](repeating: 0, count: max(total, 1))
        var offsets = [Int](repeating: 0, count: max(count, 1))
        let status = buffer.withUnsafeMutableBytes { b in
            offsets.withUnsafeMutableBufferPointer { o in api.getStringTensorContent(value, b.baseAddress, total, o.baseAddress, count) }
        }
        try api.check(status, "reading string output '\(name)'")
        let strings = (0..<count).map { i in Array(buffer[offsets[i]..<(i + 1 < count ? offsets[i + 1] : total)]) }
        do { return try Tensor(shape: shape, strings: strings) } catch { throw ORTError(code: .fail, message: "\(error)", operation: "reading output '\(name)'") }
    }

    /// Element type, dimensions (-1 symbolic) and symbolic names of an OrtTensorTypeAndShapeInfo.
    static func typeAndShape(_ info: ORTHandle, api: ORTAPI, name: String) throws(ORTError) -> (DType?, [Int64], [String?]) {
        var type: Int32 = 0
        try api.check(api.getTensorElementType(info, &type), "reading the element type of '\(name)'")
        var rank = 0
        try api.check(api.getDimensionsCount(info, &rank), "reading the rank of '\(name)'")
        var dims = [Int64](repeating: 0, count: rank)
        var symbols = [UnsafePointer<CChar>?](repeating: nil, count: rank)
        if rank > 0 {
            try api.check(dims.withUnsafeMutableBufferPointer { api.getDimensions(info, $0.baseAddress, rank) }, "reading the shape of '\(name)'")
            try api.check(symbols.withUnsafeMutableBufferPointer { api.getSymbolicDimensions(info, $0.baseAddress, rank) }, "reading the shape of '\(name)'")
        }
        let names = symbols.map { p -> String? in p.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        return (DType(rawValue: type), dims, names)
    }
}

/// OrtValues made for one run, released together.
final class ORTValueList {
    private let library: ORTLibrary
    private var values: [ORTHandle] = []
    init(_ library: ORTLibrary) { self.library = library }
    func append(_ value: ORTHandle?) { if let value { values.append(value) } }
    func releaseAll() {
        for v in values { library.api.releaseValue(v) }
        values = []
    }
}

/// Arrays of C strings that live for the duration of a call.
enum CStrings {
    static func with<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws(ORTError) -> R) throws(ORTError) -> R {
        let owned = strings.map { strdup($0) }
        defer { owned.forEach { free($0) } }
        // A trailing NULL keeps the buffer non-empty (and terminated) even for no strings.
        let pointers = owned.map { UnsafePointer<CChar>($0) } + [nil]
        let result: Result<R, ORTError> = pointers.withUnsafeBufferPointer { buffer in
            Result { () throws(ORTError) -> R in try body(buffer.baseAddress!) }
        }
        return try result.get()
    }
}
