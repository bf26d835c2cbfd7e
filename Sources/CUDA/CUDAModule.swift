/// A loaded module of compiled kernels.
public final class CUDAModule: @unchecked Sendable {
    public let context: CUDAContext
    let handle: Handle
    let name: String

    init(context: CUDAContext, image: [UInt8], name: String) throws(CUDAError) {
        self.context = context
        self.name = name
        try context.makeCurrent()
        var module: Handle?
        let code = image.withUnsafeBytes { context.driver.cuModuleLoadData(&module, $0.baseAddress) }
        try context.driver.check(code, "cuModuleLoadData(\(name))")
        handle = module!
    }

    deinit {
        try? context.makeCurrent()
        _ = context.driver.cuModuleUnload(handle)
    }

    public func function(_ name: String) throws(CUDAError) -> CUDAFunction {
        try context.makeCurrent()
        var f: Handle?
        try context.driver.check(context.driver.cuModuleGetFunction(&f, handle, name), "cuModuleGetFunction(\(name))")
        return CUDAFunction(module: self, handle: f!, name: name)
    }
}

/// A kernel's typed arguments, passed by value as cuLaunchKernel wants. A buffer becomes its device
/// address (plus `offset`) only inside `CUDAFunction.launch`: the one place that needs it.
public enum KernelArgument: Sendable {
    /// A pointer parameter (`const unsigned char* p`): the buffer's address, `offset` bytes in.
    case buffer(DeviceBuffer, offset: Int = 0)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
    /// A structure passed by value (`struct Params p`): its bytes as the kernel's C layout has them.
    case structure([UInt8])

    func bytes(for function: String) throws(CUDAError) -> [UInt8] {
        switch self {
        case .buffer(let buffer, let offset):
            let address = try buffer.address(at: offset, bytes: 0, for: function)
            return withUnsafeBytes(of: address) { Array($0) }
        case .int32(let v): return withUnsafeBytes(of: v) { Array($0) }
        case .int64(let v): return withUnsafeBytes(of: v) { Array($0) }
        case .float(let v): return withUnsafeBytes(of: v) { Array($0) }
        case .structure(let bytes): return bytes
        }
    }
}

/// A kernel of a loaded module.
public struct CUDAFunction: @unchecked Sendable {
    let module: CUDAModule
    let handle: Handle
    public let name: String

    /// Queues the kernel on `stream` over `grid` blocks of `block` threads.
    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), on stream: CUDAStream, _ arguments: [KernelArgument]) throws(CUDAError) {
        let context = module.context
        try context.makeCurrent()
        var bytes: [[UInt8]] = []
        for argument in arguments { bytes.append(try argument.bytes(for: "cuLaunchKernel(\(name))")) }
        // The buffers stay alive (held by `arguments`) until the launch is queued; after that,
        // stream order protects memory a pool hands out again on the same stream.
        let code = context.driver.launchKernel(handle, grid: grid, block: block, stream: stream.handle, arguments: bytes)
        try context.driver.check(code, "cuLaunchKernel(\(name))")
    }
}
