// Scaling rows of float32 by float64 factors, rounded once to float32: the weights of a folded
// BatchNormalization. The AVX2 loop is compiled with a target attribute (no package flags) and only
// called after dispatch.c has checked the CPU; the portable loop is plain C.
#include "internal.h"
#include <string.h>

// Row r of `rows` uses factors[r % channels]. The source may start at any byte.
static void scale_rows_portable(const unsigned char *src, float *dst, size_t rows, size_t inner,
                                const double *factors, size_t channels) {
    for (size_t r = 0; r < rows; r++) {
        double f = factors[r % channels];
        for (size_t k = 0; k < inner; k++) {
            float v;
            memcpy(&v, src + (r * inner + k) * 4, 4);
            dst[r * inner + k] = (float)((double)v * f);
        }
    }
}

#ifdef HP_HAVE_X86_KERNELS
#include <immintrin.h>
#define HP_AVX2 __attribute__((target("avx2")))

HP_AVX2 static void scale_rows_avx2(const unsigned char *src, float *dst, size_t rows, size_t inner,
                                    const double *factors, size_t channels) {
    for (size_t r = 0; r < rows; r++) {
        const __m256d f = _mm256_set1_pd(factors[r % channels]);
        const unsigned char *s = src + r * inner * 4;
        float *d = dst + r * inner;
        size_t k = 0;
        for (; k + 8 <= inner; k += 8) {
            __m256 v = _mm256_loadu_ps((const float *)(s + k * 4));
            __m256d lo = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), f);
            __m256d hi = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), f);
            _mm256_storeu_ps(d + k, _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
        }
        for (; k < inner; k++) {
            float v;
            memcpy(&v, s + k * 4, 4);
            d[k] = (float)((double)v * factors[r % channels]);
        }
    }
}
#endif

void hp_scale_rows_f32_by_f64(HPKernelISA isa, const void *src, float *dst, size_t rows, size_t inner, const double *factors, size_t channels) {
#ifdef HP_HAVE_X86_KERNELS
    if (isa != HPKernelISAPortable && hp_best_isa() != HPKernelISAPortable) { scale_rows_avx2(src, dst, rows, inner, factors, channels); return; }
#endif
    scale_rows_portable(src, dst, rows, inner, factors, channels);
}
