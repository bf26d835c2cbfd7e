// CKernels: the few inner loops that need ISA-specific instructions (x86 F16C/AVX2), each with a
// portable fallback and run-time dispatch. Translation only: no policy, no allocation, no threads.
//
// Every conversion matches numpy's `astype` bit for bit (ml_dtypes for bfloat16): round to nearest
// even, overflow to ±Inf, subnormals exact. float16 NaNs keep their sign and upper payload bits
// (numpy does not quiet signalling NaNs; the hardware does, so the SIMD paths patch NaN lanes
// back); bfloat16 NaNs become the quiet NaN 0x7FC0 with the sign kept, as ml_dtypes does.
#ifndef HALFPIPE_CKERNELS_H
#define HALFPIPE_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels a kernel can run at.
typedef enum {
    HPKernelISAPortable = 0,
    HPKernelISAX86F16CAVX2 = 1,
} HPKernelISA;

/// The best level this CPU supports (checked once with cpuid, then cached).
HPKernelISA hp_best_isa(void);
/// Human-readable name of a level ("portable", "x86-64 avx2+f16c").
const char *hp_isa_name(HPKernelISA isa);

/// Each conversion takes an explicit ISA so that tests can run every path; pass hp_best_isa()
/// for speed. A level the CPU lacks falls back to the portable code (never an illegal instruction).
void hp_f32_to_f16(HPKernelISA isa, const float *src, uint16_t *dst, size_t count);
void hp_f16_to_f32(HPKernelISA isa, const uint16_t *src, float *dst, size_t count);
void hp_f32_to_bf16(HPKernelISA isa, const float *src, uint16_t *dst, size_t count);
void hp_bf16_to_f32(HPKernelISA isa, const uint16_t *src, float *dst, size_t count);
/// dst[i] = (float)src[i] * scale + bias, then rounded to float16 / kept as float32.
void hp_u8_to_f16(HPKernelISA isa, const uint8_t *src, uint16_t *dst, size_t count, float scale, float bias);
void hp_u8_to_f32(HPKernelISA isa, const uint8_t *src, float *dst, size_t count, float scale, float bias);

/// Scalar reference conversions (exactly numpy's), exposed for tests and odd element counts.
uint16_t hp_f32_to_f16_scalar(float value);
float hp_f16_to_f32_scalar(uint16_t bits);
uint16_t hp_f32_to_bf16_scalar(float value);
float hp_bf16_to_f32_scalar(uint16_t bits);
/// float64 -> float16 rounded once, as numpy's astype does (float64 -> float32 -> float16 rounds twice).
uint16_t hp_f64_to_f16_scalar(double value);

#ifdef __cplusplus
}
#endif
#endif
