import CKernels
import Testing

@Test func probeCKernels() { #expect(hp_f32_to_f16_scalar(1) == 0x3C00) }
