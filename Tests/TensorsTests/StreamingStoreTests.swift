import CKernels
import Foundation
import Testing

/// `FloatConversion` splits large buffers over the cores, so on a many-core machine no single
/// kernel call may reach the 4 MB streaming-store threshold. These call the C dispatcher directly
/// with one large buffer at misaligned destinations, so the aligning prologue, the streamed body
/// and the tail all run, on every machine.
@Suite struct StreamingStoreTests {
    static let isas: [HPKernelISA] = [HPKernelISAPortable, HPKernelISAX86F16CAVX2]

    @Test(arguments: [Kernel.f32ToF16, .f32ToBF16, .f16ToF32])
    func oneLargeCallMatchesNumpy(kernel: Kernel) throws {
        let n = (4 << 20) / kernel.destinationSize + 1_001  // just past the threshold, odd tail
        for (so, dOff) in [(0, 1), (3, 5)] {
            let (src, want, input, caseCount, _, _) = try kernel.tiledReference(count: n, sourceOffset: so)
            for isa in Self.isas {
                let dst = AlignedBuffer(bytes: (n + 8) * kernel.destinationSize)
                let s = src.raw.baseAddress! + so * kernel.sourceSize, d = dst.raw.baseAddress! + dOff * kernel.destinationSize
                switch kernel {
                case .f32ToF16: hp_f32_to_f16(isa, s.assumingMemoryBound(to: Float.self), d.assumingMemoryBound(to: UInt16.self), n)
                case .f32ToBF16: hp_f32_to_bf16(isa, s.assumingMemoryBound(to: Float.self), d.assumingMemoryBound(to: UInt16.self), n)
                default: hp_f16_to_f32(isa, s.assumingMemoryBound(to: UInt16.self), d.assumingMemoryBound(to: Float.self), n)
                }
                let ds = kernel.destinationSize
                expectSameBits(UnsafeRawBufferPointer(rebasing: dst.raw[(dOff * ds)..<((dOff + n) * ds)]), UnsafeRawBufferPointer(want.raw),
                               elementSize: ds, input: { hexElement(input, size: kernel.sourceSize)($0 % caseCount) },
                               "\(kernel) in one call at \(String(cString: hp_isa_name(isa))), \(n) elements, offsets \(so)/\(dOff)")
                #expect(dst.raw[((dOff + n) * ds)...].allSatisfy { $0 == 0xA5 } && dst.raw[..<(dOff * ds)].allSatisfy { $0 == 0xA5 },
                        "\(kernel) wrote outside its output")
            }
        }
    }
}
