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

/// A kernel's typed arguments, passed by value as cuLaunchKernel wants (an array of pointers to them).
public enum KernelArgument: Sendable {
    case pointer(UInt64)
    case int32(Int32)
    case int64(Int64)
    case float(Float)

    var bytes: [UInt8] {
        switch self {
        case .pointer(let p): withUnsafeBytes(of: p) { Array($0) }
        case .int32(let v): withUnsafeBytes(of: v) { Array($0) }
        case .int64(let v): withUnsafeBytes(of: v) { Array($0) }
        case .float(let v): withUnsafeBytes(of: v) { Array($0) }
        }
    }
}

public struct CUDAFunction: @unchecked Sendable {
    let module: CUDAModule
    let handle: Handle
    public let name: String

    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), on stream: CUDAStream, _ arguments: [KernelArgument]) throws(CUDAError) {
        let context = module.context
        try context.makeCurrent()
        let code = context.driver.launchKernel(handle, grid: grid, block: block, stream: stream.handle, arguments: arguments.map(\.bytes))
        try context.driver.check(code, "cuLaunchKernel(\(name))")
    }
}
