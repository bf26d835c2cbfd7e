/// Device memory as the pool sees it: a source of blocks by size, and a sink for blocks it gives up.
/// The driver's cuMemAlloc/cuMemFree in `DeviceAllocator`; a fake in the tests, so every path of
/// the pool (rounding, reuse, statistics, trimming, the out-of-memory retry) runs without a GPU.
protocol RawDeviceMemory {
    /// `bytes` of device memory, or `CUDAError(.outOfMemory)` when the device has no more.
    mutating func allocate(bytes: Int) throws(CUDAError) -> UInt64
    /// Gives blocks back to the device. Blocks come here only after their owners released them,
    /// though work queued before that may still be running on them.
    mutating func free(_ addresses: [UInt64])
}

/// A block of pooled device memory: its address, its size class and the stream it belongs to.
struct DeviceBlock: Hashable, Sendable {
    let address: UInt64
    /// The size class the block was allocated at; at least the bytes asked for.
    let size: Int
    /// The stream the block is reused on (`CUDAStream.poolKey`, 0 for none).
    let stream: UInt64
}

/// What a caching allocator holds, and how well its cache works.
public struct DeviceAllocatorStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Bytes of blocks handed out and not yet released (size classes, not the bytes asked for).
    public var bytesInUse = 0
    /// Bytes of released blocks kept for reuse.
    public var bytesCached = 0
    /// The most `bytesInUse` has been.
    public var peakBytesInUse = 0
    public var blocksInUse = 0
    public var blocksCached = 0
    /// Requests served from the cache.
    public var hits = 0
    /// Requests that went to the driver.
    public var misses = 0
    /// Times an allocation ran out of memory and the cache was emptied to try again.
    public var outOfMemoryRetries = 0

    public var description: String {
        "in use \(bytesInUse) B in \(blocksInUse) blocks (peak \(peakBytesInUse) B), cached \(bytesCached) B in \(blocksCached) blocks, "
            + "\(hits) hits, \(misses) misses, \(outOfMemoryRetries) out-of-memory retries"
    }
}

/// The caching logic of `DeviceAllocator`, after PyTorch's CUDA caching allocator: requests round up
/// to a size class, released blocks are kept per (size class, stream) and handed out again, and the
/// cache is given back to the device on `trim()` or when an allocation runs out of memory.
///
/// Size classes: up to 1 MiB, multiples of 512 bytes (PyTorch's small-block rounding, at most 511
/// bytes lost per block); above, multiples of 2 MiB, the page size the driver maps large allocations
/// with anyway, so the rounding costs no device memory. A small request takes only a block of its
/// exact class; a large one the smallest cached block of at most an eighth more, so batches whose
/// size varies a little share blocks while a big block is not spent on a much smaller request.
///
/// A block is reused only on the stream it was released from: work on that stream runs in order,
/// so the next user's work cannot start before the last user's finished (PyTorch's rule too). A
/// buffer used on another stream must be synchronized before it is released.
struct DeviceMemoryPool<Memory: RawDeviceMemory> {
    static var smallLimit: Int { 1 << 20 }
    static var smallGranularity: Int { 512 }
    static var largeGranularity: Int { 2 << 20 }
    /// The largest request the pool takes: rounding above it could overflow.
    static var largestRequest: Int { Int.max / 2 }

    var memory: Memory
    private(set) var statistics = DeviceAllocatorStatistics()
    private var cached: [Key: [UInt64]] = [:]

    private struct Key: Hashable {
        let size: Int
        let stream: UInt64
    }

    init(memory: Memory) { self.memory = memory }

    /// The size class of a `bytes`-byte request (an empty request still gets a block of its own).
    static func sizeClass(_ bytes: Int) -> Int {
        let granularity = bytes <= smallLimit ? smallGranularity : largeGranularity
        return (max(bytes, 1) + granularity - 1) / granularity * granularity
    }

    /// A block of at least `bytes` for use on `stream`: a cached one if one fits, else a new one. When
    /// the device is out of memory, the cache is freed and the allocation tried once more.
    mutating func allocate(bytes: Int, stream: UInt64) throws(CUDAError) -> DeviceBlock {
        guard bytes >= 0, bytes <= Self.largestRequest else {
            throw CUDAError(.badInput, function: "DeviceAllocator", message: "a device buffer of \(bytes) bytes")
        }
        let size = Self.sizeClass(bytes)
        if let key = cachedFit(size: size, stream: stream), let address = cached[key]?.popLast() {
            if cached[key]!.isEmpty { cached[key] = nil }
            statistics.hits += 1
            statistics.bytesCached -= key.size
            statistics.blocksCached -= 1
            return handOut(DeviceBlock(address: address, size: key.size, stream: stream))
        }
        statistics.misses += 1
        let address: UInt64
        do {
            address = try memory.allocate(bytes: size)
        } catch where error.kind == .outOfMemory && statistics.blocksCached > 0 {
            // Cached blocks of other sizes or streams may be what the device lacks.
            statistics.outOfMemoryRetries += 1
            trim()
            address = try memory.allocate(bytes: size)
        }
        return handOut(DeviceBlock(address: address, size: size, stream: stream))
    }

    /// Keeps a released block for reuse on its stream.
    mutating func release(_ block: DeviceBlock) {
        cached[Key(size: block.size, stream: block.stream), default: []].append(block.address)
        statistics.bytesInUse -= block.size
        statistics.blocksInUse -= 1
        statistics.bytesCached += block.size
        statistics.blocksCached += 1
    }

    /// Gives every cached block back to the device; blocks in use stay with their owners.
    mutating func trim() {
        let addresses = cached.values.flatMap { $0 }
        cached = [:]
        statistics.bytesCached = 0
        statistics.blocksCached = 0
        if !addresses.isEmpty { memory.free(addresses) }
    }

    private mutating func handOut(_ block: DeviceBlock) -> DeviceBlock {
        statistics.bytesInUse += block.size
        statistics.blocksInUse += 1
        statistics.peakBytesInUse = max(statistics.peakBytesInUse, statistics.bytesInUse)
        return block
    }

    /// The cached class a request of class `size` takes: its own, or for large requests the smallest
    /// cached class of at most an eighth more.
    private func cachedFit(size: Int, stream: UInt64) -> Key? {
        let exact = Key(size: size, stream: stream)
        if cached[exact] != nil || size <= Self.smallLimit { return cached[exact] == nil ? nil : exact }
        return cached.keys.filter { $0.stream == stream && $0.size > size && $0.size <= size + size / 8 }.min { $0.size < $1.size }
    }
}
