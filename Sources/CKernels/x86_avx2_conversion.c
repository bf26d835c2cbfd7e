// F16C/AVX2 conversion loops. Compiled for those instructions with a target attribute (no package
// flags), and only ever called after dispatch.c has checked the CPU.
#include "internal.h"
#ifdef HP_HAVE_X86_KERNELS
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF
#define HP_AVX2 __attribute__((target("avx2,f16c")))
#include "x86_lanes.h"

// Large outputs bypass the cache (streaming stores) so the conversion costs one read and one
// write of memory, like memcpy; small ones stay cached for whoever reads them next.
#define HP_STREAM_THRESHOLD_BYTES ((size_t)4 << 20)

HP_AVX2 void hp_f32_to_f16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    if (n * 2 >= HP_STREAM_THRESHOLD_BYTES) {
        // Reach a 16-byte aligned destination, then stream.
        while (i < n && ((uintptr_t)(dst + i) & 15)) { dst[i] = hp_f32_to_f16_scalar(src[i]); i++; }
        for (; i + 16 <= n; i += 16) {
            __m128i a = f32x8_to_f16(_mm256_loadu_ps(src + i));
            __m128i b = f32x8_to_f16(_mm256_loadu_ps(src + i + 8));
            _mm_stream_si128((__m128i *)(dst + i), a);
            _mm_stream_si128((__m128i *)(dst + i + 8), b);
        }
        _mm_sfence();
    }
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(dst + i), f32x8_to_f16(_mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = hp_f32_to_f16_scalar(src[i]);
}

HP_AVX2 static inline __m256 f16x8_to_f32(__m128i h) {
    __m256 f = _mm256_cvtph_ps(h);
    // NaN lanes: exponent all ones and a non-zero mantissa.
    __m128i expo = _mm_and_si128(h, _mm_set1_epi16(0x7c00));
    __m128i mant = _mm_and_si128(h, _mm_set1_epi16(0x03ff));
    __m128i is_nan = _mm_andnot_si128(_mm_cmpeq_epi16(mant, _mm_setzero_si128()),
                                      _mm_cmpeq_epi16(expo, _mm_set1_epi16(0x7c00)));
    if (__builtin_expect(_mm_movemask_epi8(is_nan) != 0, 0)) {
        uint16_t in[8]; float out[8];
        _mm_storeu_si128((__m128i *)in, h);
        _mm256_storeu_ps(out, f);
        for (int i = 0; i < 8; i++) out[i] = hp_f16_to_f32_scalar(in[i]);
        f = _mm256_loadu_ps(out);
    }
    return f;
}

HP_AVX2 void hp_f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    if (n * 4 >= HP_STREAM_THRESHOLD_BYTES) {
        while (i < n && ((uintptr_t)(dst + i) & 31)) { dst[i] = hp_f16_to_f32_scalar(src[i]); i++; }
        for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, f16x8_to_f32(_mm_loadu_si128((const __m128i *)(src + i))));
        _mm_sfence();
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f16x8_to_f32(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = hp_f16_to_f32_scalar(src[i]);
}

HP_AVX2 void hp_f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    if (n * 2 >= HP_STREAM_THRESHOLD_BYTES) {
        while (i < n && ((uintptr_t)(dst + i) & 15)) { dst[i] = hp_f32_to_bf16_scalar(src[i]); i++; }
        for (; i + 8 <= n; i += 8) _mm_stream_si128((__m128i *)(dst + i), f32x8_to_bf16(_mm256_loadu_ps(src + i)));
        _mm_sfence();
    }
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(dst + i), f32x8_to_bf16(_mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = hp_f32_to_bf16_scalar(src[i]);
}

HP_AVX2 void hp_bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++) dst[i] = hp_bf16_to_f32_scalar(src[i]);
}

HP_AVX2 static inline __m256 u8x8_to_f32(const uint8_t *p, __m256 scale, __m256 bias) {
    __m128i bytes = _mm_loadl_epi64((const __m128i *)p);
    __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    return _mm256_add_ps(_mm256_mul_ps(f, scale), bias);
}

HP_AVX2 void hp_u8_to_f16_avx2(const uint8_t *src, uint16_t *dst, size_t n, float scale, float bias) {
    __m256 s = _mm256_set1_ps(scale), b = _mm256_set1_ps(bias);
    size_t i = 0;
    // u8 * scale + bias is never NaN for finite scale/bias, so the plain hardware rounding is exact.
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), f32x8_to_f16(u8x8_to_f32(src + i, s, b)));
    for (; i < n; i++) dst[i] = hp_f32_to_f16_scalar((float)src[i] * scale + bias);
}

HP_AVX2 void hp_u8_to_f32_avx2(const uint8_t *src, float *dst, size_t n, float scale, float bias) {
    __m256 s = _mm256_set1_ps(scale), b = _mm256_set1_ps(bias);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, u8x8_to_f32(src + i, s, b));
    for (; i < n; i++) dst[i] = (float)src[i] * scale + bias;
}
#endif
