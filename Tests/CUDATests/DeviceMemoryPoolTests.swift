import Testing
@testable import CUDA

/// Device memory without a device: a capacity, addresses handed out in order, every live block
/// and every call recorded, so the pool's bookkeeping can be checked against what really happened.
struct FakeDeviceMemory: RawDeviceMemory {
    var capacity: Int
    var live: [UInt64: Int] = [:]
    var allocations = 0
    var freed: [UInt64] = []
    private var next: UInt64 = 0x7f00_0000_0000

    init(capacity: Int = 1 << 40) { self.capacity = capacity }

    var liveBytes: Int { live.values.reduce(0, +) }

    mutating func allocate(bytes: Int) throws(CUDAError) -> UInt64 {
        guard liveBytes + bytes <= capacity else {
            throw CUDAError.driver(2, function: "cuMemAlloc(\(bytes) bytes)", name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory")
        }
        allocations += 1
        let address = next
        next += UInt64(bytes) + 256
        live[address] = bytes
        return address
    }

    mutating func free(_ addresses: [UInt64]) {
        for address in addresses {
            precondition(live.removeValue(forKey: address) != nil, "freed an address not allocated: \(address)")
            freed.append(address)
        }
    }
}

@Suite struct DeviceMemoryPoolTests {
    typealias Pool = DeviceMemoryPool<FakeDeviceMemory>
    static let MiB = 1 << 20

    /// Every request up to 4 MiB: the class covers it, is a multiple of its granularity, wastes
    /// less than one granule, and never shrinks as requests grow.
    @Test func sizeClassesCoverEveryRequestTightly() {
        var previous = 0
        for bytes in 0...(4 * Self.MiB) {
            let size = Pool.sizeClass(bytes)
            let granularity = bytes <= Pool.smallLimit ? 512 : 2 * Self.MiB
            guard size >= max(bytes, 1), size % granularity == 0, size - max(bytes, 1) < granularity, size >= previous else {
                Issue.record("request \(bytes): class \(size)")
                return
            }
            previous = size
        }
        #expect(Pool.sizeClass(0) == 512 && Pool.sizeClass(1) == 512 && Pool.sizeClass(512) == 512 && Pool.sizeClass(513) == 1024)
        #expect(Pool.sizeClass(Self.MiB) == Self.MiB && Pool.sizeClass(Self.MiB + 1) == 2 * Self.MiB)
        // The out-of-memory check of bench/gpu.sh: 61,000 slots of 640x640x3 float16.
        let huge = 61_000 * 3 * 640 * 640 * 2
        #expect(Pool.sizeClass(huge) >= huge && Pool.sizeClass(huge) - huge < 2 * Self.MiB)
        #expect(Pool.sizeClass(Pool.largestRequest) >= Pool.largestRequest)
    }

    @Test func releasedBlocksAreReusedForTheirClass() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        let a = try pool.allocate(bytes: 1000, stream: 0)
        #expect(a.size == 1024)
        pool.release(a)
        let b = try pool.allocate(bytes: 700, stream: 0)
        #expect(b == a)
        let c = try pool.allocate(bytes: 1025, stream: 0)
        #expect(c.address != a.address && c.size == 1536)
        #expect(pool.statistics.hits == 1 && pool.statistics.misses == 2 && pool.memory.allocations == 2)
    }

    @Test func blocksStayWithTheirStream() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        let a = try pool.allocate(bytes: 4096, stream: 1)
        pool.release(a)
        let other = try pool.allocate(bytes: 4096, stream: 2)
        #expect(other.address != a.address && other.stream == 2)
        let same = try pool.allocate(bytes: 4096, stream: 1)
        #expect(same.address == a.address)
    }

    /// Large requests take the smallest cached block at most an eighth larger; small ones only their own class.
    @Test func largeRequestsTakeTheBestCachedFit() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        let blocks = try [34, 36, 40].map { try pool.allocate(bytes: $0 * Self.MiB, stream: 0) }
        blocks.forEach { pool.release($0) }
        let fit = try pool.allocate(bytes: 32 * Self.MiB, stream: 0)
        #expect(fit.address == blocks[0].address && fit.size == 34 * Self.MiB)
        let next = try pool.allocate(bytes: 32 * Self.MiB, stream: 0)
        #expect(next.address == blocks[1].address)
        let tooBig = try pool.allocate(bytes: 32 * Self.MiB, stream: 0)  // 40 MiB is more than an eighth over
        #expect(![blocks[2].address].contains(tooBig.address) && tooBig.size == 32 * Self.MiB)
        let small = try pool.allocate(bytes: 512, stream: 0)
        pool.release(small)
        #expect(try pool.allocate(bytes: 100, stream: 0) == small)
        pool.release(try pool.allocate(bytes: 2048, stream: 0))
        #expect(try pool.allocate(bytes: 1024, stream: 0).size == 1024)  // a cached 2 KiB block is not taken
    }

    @Test func statisticsFollowEveryBlock() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        let a = try pool.allocate(bytes: 3 * Self.MiB, stream: 0)  // class 4 MiB
        let b = try pool.allocate(bytes: 100, stream: 0)           // class 512
        #expect(pool.statistics == DeviceAllocatorStatistics(bytesInUse: 4 * Self.MiB + 512, bytesCached: 0, peakBytesInUse: 4 * Self.MiB + 512,
                                                             blocksInUse: 2, blocksCached: 0, hits: 0, misses: 2, outOfMemoryRetries: 0))
        pool.release(a)
        #expect(pool.statistics.bytesInUse == 512 && pool.statistics.bytesCached == 4 * Self.MiB && pool.statistics.blocksCached == 1)
        #expect(pool.statistics.peakBytesInUse == 4 * Self.MiB + 512)
        pool.release(b)
        _ = try pool.allocate(bytes: 4 * Self.MiB, stream: 0)
        #expect(pool.statistics.hits == 1 && pool.statistics.bytesCached == 512 && pool.statistics.bytesInUse == 4 * Self.MiB)
        #expect(pool.statistics.bytesInUse + pool.statistics.bytesCached == pool.memory.liveBytes)
    }

    @Test func trimGivesTheCacheBack() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        let kept = try pool.allocate(bytes: 10_000, stream: 0)
        let dropped = try (0..<5).map { try pool.allocate(bytes: $0 * Self.MiB, stream: UInt64($0 % 2)) }
        dropped.forEach { pool.release($0) }
        pool.trim()
        #expect(Set(pool.memory.freed) == Set(dropped.map(\.address)))
        #expect(pool.memory.live.keys.sorted() == [kept.address])
        #expect(pool.statistics.bytesCached == 0 && pool.statistics.blocksCached == 0 && pool.statistics.bytesInUse == kept.size)
        _ = try pool.allocate(bytes: 0, stream: 0)
        #expect(pool.statistics.hits == 0)
        pool.trim()  // nothing cached: nothing freed
        #expect(pool.memory.freed.count == dropped.count)
    }

    /// Out of memory with blocks cached: the cache goes back to the device and the allocation is
    /// tried once more, which succeeds.
    @Test func outOfMemoryFreesTheCacheAndRetries() throws {
        var pool = Pool(memory: FakeDeviceMemory(capacity: 8 * Self.MiB))
        let cached = try [2, 4].map { try pool.allocate(bytes: $0 * Self.MiB, stream: 7) }
        cached.forEach { pool.release($0) }
        let big = try pool.allocate(bytes: 6 * Self.MiB, stream: 0)
        #expect(big.size == 6 * Self.MiB && pool.statistics.outOfMemoryRetries == 1)
        #expect(Set(pool.memory.freed) == Set(cached.map(\.address)) && pool.statistics.bytesCached == 0)
    }

    /// Out of memory even after the retry (or with nothing cached): `.outOfMemory` with CUDA's code
    /// name, which `bench/gpu.sh` looks for, and the books unchanged.
    @Test func outOfMemoryAfterTheRetryThrows() throws {
        var pool = Pool(memory: FakeDeviceMemory(capacity: 8 * Self.MiB))
        let held = try pool.allocate(bytes: 4 * Self.MiB, stream: 0)
        pool.release(try pool.allocate(bytes: 2 * Self.MiB, stream: 0))
        #expect { try pool.allocate(bytes: 6 * Self.MiB, stream: 0) } throws: { error in
            guard let error = error as? CUDAError else { return false }
            return error.kind == .outOfMemory && error.description.contains("CUDA_ERROR_OUT_OF_MEMORY")
        }
        #expect(pool.statistics.outOfMemoryRetries == 1 && pool.statistics.bytesInUse == held.size && pool.statistics.bytesCached == 0)
        #expect(throws: CUDAError.self) { try pool.allocate(bytes: 6 * Self.MiB, stream: 0) }
        #expect(pool.statistics.outOfMemoryRetries == 1)  // nothing cached: no retry
        #expect(pool.statistics.bytesInUse == pool.memory.liveBytes)
    }

    @Test func impossibleRequestsAreBadInput() {
        var pool = Pool(memory: FakeDeviceMemory())
        for bytes in [-1, Int.min, Int.max] {
            #expect { try pool.allocate(bytes: bytes, stream: 0) } throws: { ($0 as? CUDAError)?.kind == .badInput }
        }
    }

    /// A random mix of requests and releases over three streams: no address is handed out twice at
    /// once, a block always fits its request, and the books match the device.
    @Test func randomUseKeepsTheBooks() throws {
        var pool = Pool(memory: FakeDeviceMemory())
        var rng = SplitMix(seed: 2024)
        var inUse: [DeviceBlock] = []
        var requests = 0
        for step in 0..<5000 {
            if !inUse.isEmpty, rng.next() % 2 == 0 {
                pool.release(inUse.remove(at: Int(rng.next() % UInt64(inUse.count))))
            } else {
                let bytes = rng.next() % 4 == 0 ? Int(rng.next() % UInt64(24 * Self.MiB)) : Int(rng.next() % 20_000)
                let stream = rng.next() % 3
                let block = try pool.allocate(bytes: bytes, stream: stream)
                requests += 1
                #expect(block.size >= bytes && block.stream == stream)
                #expect(!inUse.contains { $0.address == block.address }, "step \(step): \(block.address) handed out twice")
                inUse.append(block)
            }
            if step % 997 == 0 { pool.trim() }
        }
        #expect(pool.statistics.bytesInUse == inUse.reduce(0) { $0 + $1.size })
        #expect(pool.statistics.blocksInUse == inUse.count)
        #expect(pool.statistics.bytesInUse + pool.statistics.bytesCached == pool.memory.liveBytes)
        #expect(pool.statistics.hits > 0 && pool.statistics.hits + pool.statistics.misses == requests)
        #expect(pool.statistics.misses == pool.memory.allocations)
    }
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
