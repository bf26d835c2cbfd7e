import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Data over new memory that one writer fills completely before anyone reads it: converted and
/// folded weights. `Data(count:)` would zero every byte first (a second pass over hundreds of MB),
/// and large buffers come from a populated anonymous mapping: one bulk fault instead of one per
/// 4 KB page, which was the largest single cost of converting ResNet-50's weights.
public enum FreshBytes {
    /// Buffers from this size up are mapped directly; below it malloc's pools serve them faster.
    static let mappingThreshold = 1 << 20

    /// `count` bytes, 64-byte aligned, written by `fill` (which must set every byte).
    public static func make(count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> Data {
        guard count > 0 else { return Data() }
        // Filled before it becomes Data: Data may copy a small buffer inline and free it at once.
        #if os(Linux)
        if count >= mappingThreshold,
           let base = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0),
           base != MAP_FAILED {
            do { try fill(UnsafeMutableRawBufferPointer(start: base, count: count)) } catch { munmap(base, count); throw error }
            return Data(bytesNoCopy: base, count: count, deallocator: .custom { pointer, count in munmap(pointer, count) })
        }
        #endif
        let base = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        do { try fill(UnsafeMutableRawBufferPointer(start: base, count: count)) } catch { base.deallocate(); throw error }
        return Data(bytesNoCopy: base, count: count, deallocator: .custom { pointer, _ in pointer.deallocate() })
    }
}
