// Eight-lane float32 -> float16/bfloat16 roundings shared by the AVX2 kernel files. Only included
// inside HP_HAVE_X86_KERNELS blocks of files that define HP_AVX2 with F16C.
#ifndef HALFPIPE_CKERNELS_X86_LANES_H
#define HALFPIPE_CKERNELS_X86_LANES_H
#include <immintrin.h>

// The hardware quiets signalling NaNs; numpy keeps them. Patch those rare lanes with the scalar rule.
HP_AVX2 static inline __m128i f32x8_to_f16(__m256 v) {
    __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    int nan = _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    if (__builtin_expect(nan != 0, 0)) {
        float lanes[8]; uint16_t out[8];
        _mm256_storeu_ps(lanes, v);
        _mm_storeu_si128((__m128i *)out, h);
        for (int i = 0; i < 8; i++) if (nan & (1 << i)) out[i] = hp_f32_to_f16_scalar(lanes[i]);
        h = _mm_loadu_si128((const __m128i *)out);
    }
    return h;
}

// bfloat16 = the upper half of float32 rounded to nearest even; every NaN becomes ±0x7FC0 (ml_dtypes).
HP_AVX2 static inline __m128i f32x8_to_bf16(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i nan_bits = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000)),
                                       _mm256_set1_epi32(0x7fc0));
    __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    __m256i r = _mm256_blendv_epi8(rounded, nan_bits, is_nan);
    // Pack the low 16 bits of each 32-bit lane (values fit in 16 bits, so unsigned saturation is exact).
    __m256i packed = _mm256_packus_epi32(r, r);
    packed = _mm256_permute4x64_epi64(packed, 0x08);
    return _mm256_castsi256_si128(packed);
}

#endif
