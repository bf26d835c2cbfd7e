import Foundation
import Testing
import Tensors

/// The SIMD kernels have a vector body, a scalar tail, an alignment prologue and (for large
/// outputs) streaming stores and threads. These sweeps reach each of them on numpy's data.
@Suite struct KernelSweepTests {
    static let cases: [(Kernel, KernelPath)] = Kernel.allCases.flatMap { k in KernelPath.allCases.map { (k, $0) } }

    /// Windows of numpy's inputs that hold NaNs, infinities and ties, so the tail lanes see them too.
    static func windowStarts(count: Int) -> [Int] {
        [0, 0x7BF0, 0x7C00 - 5, 0xFC00 - 13, 0x7E01].map { min($0, count - 40) }.filter { $0 >= 0 }
    }

    /// Every length 0…33 at several element offsets of source and destination; bytes beyond the
    /// output must stay untouched.
    @Test(arguments: cases)
    func everySmallLengthAndOffsetMatchesNumpy(kernel: Kernel, path: KernelPath) throws {
        let (input, expected, scale, bias) = try kernel.referenceCase()
        let count = input.count / kernel.sourceSize
        let (ss, ds) = (kernel.sourceSize, kernel.destinationSize)
        let src = AlignedBuffer(bytes: (64 + 8) * ss), dst = AlignedBuffer(bytes: (64 + 8) * ds)
        var failures = 0
        for start in Self.windowStarts(count: count) {
            for length in 0...33 {
                for (so, dOff) in [(0, 0), (1, 0), (0, 1), (3, 5), (7, 3), (5, 7), (2, 6)] {
                    input.withUnsafeBytes { src.raw.baseAddress!.advanced(by: so * ss).copyMemory(from: $0.baseAddress! + start * ss, byteCount: length * ss) }
                    dst.raw.initializeMemory(as: UInt8.self, repeating: 0xA5)
                    kernel.run(src.raw.baseAddress! + so * ss, dst.raw.baseAddress! + dOff * ds, count: length,
                               scale: scale, bias: bias, portableOnly: path.portableOnly)
                    let ok = expected.withUnsafeBytes { e in
                        expectSameBits(UnsafeRawBufferPointer(rebasing: dst.raw[(dOff * ds)..<((dOff + length) * ds)]),
                                       UnsafeRawBufferPointer(rebasing: e[(start * ds)..<((start + length) * ds)]),
                                       elementSize: ds, input: { hexElement(input, size: ss)(start + $0) },
                                       "\(kernel) \(path), start \(start), length \(length), offsets \(so)/\(dOff)")
                    }
                    let outside = dst.raw[..<(dOff * ds)].allSatisfy { $0 == 0xA5 } && dst.raw[((dOff + length) * ds)...].allSatisfy { $0 == 0xA5 }
                    #expect(outside, "\(kernel) \(path) wrote outside its output (length \(length), offset \(dOff))")
                    if !ok || !outside { failures += 1 }
                    if failures > 5 { return }
                }
            }
        }
    }

    /// A zero-length buffer may have no base address at all (an empty Array's, for instance).
    @Test(arguments: Kernel.allCases)
    func emptyBuffersWithoutAddressesAreFine(kernel: Kernel) {
        for path in KernelPath.allCases { kernel.run(nil, nil, count: 0, portableOnly: path.portableOnly) }
    }

    /// ~3M elements: past the 4 MB streaming-store threshold and the multithreading threshold,
    /// at misaligned destinations (the streaming prologue), compared with numpy and the portable loop.
    @Test(arguments: Kernel.allCases)
    func largeBuffersMatchNumpyAndThePortableLoop(kernel: Kernel) throws {
        let n = 3_000_017
        let (ss, ds) = (kernel.sourceSize, kernel.destinationSize)
        // Offsets shift source and destination off their 64-byte alignment.
        for (so, dOff) in [(0, 0), (1, 3)] {
            let (src, want, input, caseCount, scale, bias) = try kernel.tiledReference(count: n, sourceOffset: so)
            let wantBytes = UnsafeRawBufferPointer(want.raw)
            for path in KernelPath.allCases {
                let dst = AlignedBuffer(bytes: (n + 8) * ds)
                kernel.run(src.raw.baseAddress! + so * ss, dst.raw.baseAddress! + dOff * ds, count: n,
                           scale: scale, bias: bias, portableOnly: path.portableOnly)
                expectSameBits(UnsafeRawBufferPointer(rebasing: dst.raw[(dOff * ds)..<((dOff + n) * ds)]), wantBytes,
                               elementSize: ds, input: { hexElement(input, size: ss)($0 % caseCount) },
                               "\(kernel) \(path), \(n) elements, offsets \(so)/\(dOff)")
                #expect(dst.raw[((dOff + n) * ds)...].allSatisfy { $0 == 0xA5 }, "\(kernel) \(path) wrote past its output")
            }
        }
    }
}
