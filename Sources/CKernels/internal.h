// Declarations shared by the kernel files; not part of the module's public header.
#ifndef HALFPIPE_CKERNELS_INTERNAL_H
#define HALFPIPE_CKERNELS_INTERNAL_H
#include "include/CKernels.h"

void hp_f32_to_f16_portable(const float *src, uint16_t *dst, size_t n);
void hp_f16_to_f32_portable(const uint16_t *src, float *dst, size_t n);
void hp_f32_to_bf16_portable(const float *src, uint16_t *dst, size_t n);
void hp_bf16_to_f32_portable(const uint16_t *src, float *dst, size_t n);
void hp_u8_to_f16_portable(const uint8_t *src, uint16_t *dst, size_t n, float scale, float bias);
void hp_u8_to_f32_portable(const uint8_t *src, float *dst, size_t n, float scale, float bias);

#if defined(__x86_64__) || defined(__i386__)
#define HP_HAVE_X86_KERNELS 1
void hp_f32_to_f16_avx2(const float *src, uint16_t *dst, size_t n);
void hp_f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n);
void hp_f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n);
void hp_bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n);
void hp_u8_to_f16_avx2(const uint8_t *src, uint16_t *dst, size_t n, float scale, float bias);
void hp_u8_to_f32_avx2(const uint8_t *src, float *dst, size_t n, float scale, float bias);
#endif
#endif
