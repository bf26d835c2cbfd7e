import CKernels
import Foundation
import Tensors
import Testing

/// `hp_f32_narrow` rounds, counts and repairs in one pass. Its specification is the scalar
/// rounding (itself checked against numpy and ml_dtypes) plus the clamp rules, so every result is
/// checked element by element against that, on both targets, both tiny policies and both code
/// paths: every sign and exponent with mantissas at and around each rounding boundary, every
/// length 0…40 at unaligned source and destination offsets (vector body, tail, streaming head),
/// and a buffer large enough to take the streaming-store path.
@Suite struct NarrowKernelTests {
    struct Configuration: CustomStringConvertible, Sendable {
        let bfloat16: Bool, clampTiny: Bool, isa: HPKernelISA
        var description: String { "\(bfloat16 ? "bfloat16" : "float16"), tiny \(clampTiny ? "clamped" : "zeroed"), \(String(cString: hp_isa_name(isa)))" }
    }

    static let configurations: [Configuration] = [false, true].flatMap { bf in
        [false, true].flatMap { clamp in [HPKernelISAPortable, hp_best_isa()].map { Configuration(bfloat16: bf, clampTiny: clamp, isa: $0) } }
    }

    /// The specification, one value at a time.
    static func expected(_ bits: UInt32, _ c: Configuration) -> (value: UInt16, overflow: Bool, tiny: Bool) {
        let f = Float(bitPattern: bits)
        var h = c.bfloat16 ? hp_f32_to_bf16_scalar(f) : hp_f32_to_f16_scalar(f)
        let a = bits & 0x7FFF_FFFF, sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let overflowBits: UInt32 = c.bfloat16 ? 0x7F7F_8000 : 0x477F_F000
        let zeroBelow: UInt32 = c.bfloat16 ? 0x0000_8001 : 0x3300_0001
        let largest: UInt16 = c.bfloat16 ? 0x7F7F : 0x7BFF
        let finite = a < 0x7F80_0000
        let overflow = finite && a >= overflowBits, tiny = a != 0 && a < zeroBelow
        // The rounding itself tells the limits apart: just below them it must not over- or underflow.
        if overflow { h = sign | largest } else if tiny && c.clampTiny { h = sign | 1 }
        return (h, overflow, tiny)
    }

    /// Runs the kernel on `values` placed `sourceOffset` bytes into a buffer and written
    /// `destinationOffset` elements into another; checks every output, the counts, the largest
    /// finite magnitude and that nothing outside the output changed.
    static func check(_ values: [UInt32], _ c: Configuration, sourceOffset: Int = 0, destinationOffset: Int = 0) -> Bool {
        var source = [UInt8](repeating: 0, count: values.count * 4 + sourceOffset)
        for (i, v) in values.enumerated() { withUnsafeBytes(of: v.littleEndian) { source.replaceSubrange((sourceOffset + i * 4)..<(sourceOffset + i * 4 + 4), with: $0) } }
        var destination = [UInt16](repeating: 0xA5A5, count: values.count + destinationOffset + 3)
        var counts = HPNarrowCounts()
        source.withUnsafeBytes { s in
            destination.withUnsafeMutableBufferPointer { d in
                hp_f32_narrow(c.isa, s.baseAddress! + sourceOffset, d.baseAddress! + destinationOffset, values.count,
                              c.bfloat16 ? 1 : 0, c.clampTiny ? 1 : 0, &counts)
            }
        }
        var overflow = 0, tiny = 0, largest: UInt32 = 0, wrong = 0
        for (i, v) in values.enumerated() {
            let e = expected(v, c)
            overflow += e.overflow ? 1 : 0
            tiny += e.tiny ? 1 : 0
            if v & 0x7FFF_FFFF < 0x7F80_0000 { largest = max(largest, v & 0x7FFF_FFFF) }
            if destination[destinationOffset + i] != e.value {
                wrong += 1
                if wrong <= 3 {
                    Issue.record("\(c): 0x\(String(v, radix: 16)) gave 0x\(String(destination[destinationOffset + i], radix: 16)), expected 0x\(String(e.value, radix: 16))")
                }
            }
        }
        #expect(counts.overflow == overflow && counts.tiny == tiny && counts.max_bits == largest,
                "\(c): counts \(counts.overflow)/\(counts.tiny)/\(counts.max_bits), expected \(overflow)/\(tiny)/\(largest)")
        let untouched = destination[..<destinationOffset].allSatisfy { $0 == 0xA5A5 }
            && destination[(destinationOffset + values.count)...].allSatisfy { $0 == 0xA5A5 }
        #expect(untouched, "\(c) wrote outside its output")
        return wrong == 0 && untouched && counts.overflow == overflow && counts.tiny == tiny
    }

    /// Every upper half (sign, exponent, top of the mantissa) with the lower halves at the
    /// rounding boundaries of both targets: float16 drops 13 bits, bfloat16 16.
    static var boundaryPatterns: [UInt32] {
        let lows: [UInt32] = [0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x7FFF, 0x8000, 0x8001, 0xEFFF, 0xF000, 0xF001, 0xFFFF]
        return (0...UInt32(0xFFFF)).flatMap { hi in lows.map { hi << 16 | $0 } }
    }

    @Test(arguments: configurations)
    func everyExponentAndRoundingBoundary(configuration: Configuration) {
        // Shuffled so that clamped lanes sit beside plain ones in every vector.
        var generator = SeededGenerator(seed: 7)
        #expect(Self.check(Self.boundaryPatterns.shuffled(using: &generator), configuration))
    }

    @Test(arguments: configurations)
    func everySmallLengthAtUnalignedOffsets(configuration: Configuration) {
        // Overflowing, tiny, NaN, infinite and ordinary values.
        let pool: [UInt32] = [0x477F_F000, 0xC77F_E000, 0x3300_0000, 0x8000_0001, 0x7FC0_0001, 0xFF80_0000, 0x3F80_0000,
                              0x7F7F_FFFF, 0x0000_8000, 0x3F00_1000, 0x0000_0000, 0x8000_0000, 0x3380_0000, 0x4780_0000]
        for length in 0...40 {
            let values = (0..<length).map { pool[($0 * 5 + length) % pool.count] }
            for (s, d) in [(0, 0), (1, 0), (2, 1), (3, 5), (0, 7)] where !Self.check(values, configuration, sourceOffset: s, destinationOffset: d) {
                Issue.record("\(configuration): length \(length), offsets \(s)/\(d)")
                return
            }
        }
    }

    @Test(arguments: configurations)
    func largeOutputsTakeTheStreamingPath(configuration: Configuration) {
        // 2.5 M values (5 MB of output) from an odd source byte into an odd destination element.
        var generator = SeededGenerator(seed: 11)
        let values = (0..<2_500_003).map { _ in UInt32(truncatingIfNeeded: generator.next()) }
        #expect(Self.check(values, configuration, sourceOffset: 3, destinationOffset: 1))
    }
}
