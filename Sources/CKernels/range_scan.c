// The range scan behind narrowing a float32 constant to float16/bfloat16: how many values will
// overflow, how many tiny non-zeros will vanish, and the largest finite magnitude. The AVX2 loop
// is compiled with a target attribute (no package flags) and only called after dispatch.c has
// checked the CPU; the portable loop is plain C.
#include "internal.h"
#include <string.h>

static void scan_portable(const unsigned char *bytes, size_t count, uint32_t overflow_bits, uint32_t zero_below_bits,
                          size_t *over, size_t *small, uint32_t *largest) {
    size_t o = 0, t = 0;
    uint32_t l = *largest;
    for (size_t i = 0; i < count; i++) {
        uint32_t b;
        memcpy(&b, bytes + i * 4, 4);  // weights parsed from protobuf start at any byte
        uint32_t a = b & 0x7FFFFFFFu;
        uint32_t finite = a < 0x7F800000u;
        o += (a >= overflow_bits) & finite;
        t += (a != 0) & (a < zero_below_bits);
        uint32_t m = finite ? a : 0;
        l = m > l ? m : l;
    }
    *over += o;
    *small += t;
    *largest = l;
}

#ifdef HP_HAVE_X86_KERNELS
#include <immintrin.h>
#define HP_AVX2 __attribute__((target("avx2")))

// |x| bit patterns are below 2^31, so signed 32-bit compares and max order them correctly.
HP_AVX2 static void scan_avx2(const unsigned char *bytes, size_t count, uint32_t overflow_bits, uint32_t zero_below_bits,
                              size_t *over, size_t *small, uint32_t *largest) {
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i over_min = _mm256_set1_epi32((int32_t)overflow_bits - 1), tiny_max = _mm256_set1_epi32((int32_t)zero_below_bits);
    const __m256i zero = _mm256_setzero_si256();
    __m256i v_over = zero, v_tiny = zero, v_max = zero;
    size_t i = 0;
    // Per-lane counters are 32-bit: the caller passes at most 2^32 values (2^29 per lane).
    for (; i + 8 <= count; i += 8) {
        __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(bytes + i * 4)), abs_mask);
        __m256i finite = _mm256_cmpgt_epi32(inf, a);
        v_over = _mm256_sub_epi32(v_over, _mm256_and_si256(_mm256_cmpgt_epi32(a, over_min), finite));
        v_tiny = _mm256_sub_epi32(v_tiny, _mm256_and_si256(_mm256_cmpgt_epi32(tiny_max, a), _mm256_cmpgt_epi32(a, zero)));
        v_max = _mm256_max_epi32(v_max, _mm256_and_si256(a, finite));
    }
    uint32_t lanes_over[8], lanes_tiny[8], lanes_max[8];
    _mm256_storeu_si256((__m256i *)lanes_over, v_over);
    _mm256_storeu_si256((__m256i *)lanes_tiny, v_tiny);
    _mm256_storeu_si256((__m256i *)lanes_max, v_max);
    for (int k = 0; k < 8; k++) {
        *over += lanes_over[k];
        *small += lanes_tiny[k];
        if (lanes_max[k] > *largest) *largest = lanes_max[k];
    }
    scan_portable(bytes + i * 4, count - i, overflow_bits, zero_below_bits, over, small, largest);
}
#endif

void hp_f32_range_scan(const void *src, size_t count, uint32_t overflow_bits, uint32_t zero_below_bits,
                       size_t *overflow, size_t *tiny, uint32_t *max_bits) {
    *overflow = 0;
    *tiny = 0;
    *max_bits = 0;
    const unsigned char *bytes = (const unsigned char *)src;
#ifdef HP_HAVE_X86_KERNELS
    if (hp_best_isa() != HPKernelISAPortable) {
        // Blocks of at most 2^32 values keep the 32-bit lane counters from wrapping.
        for (size_t start = 0; start < count; start += (size_t)1 << 32) {
            size_t n = count - start < ((size_t)1 << 32) ? count - start : ((size_t)1 << 32);
            size_t o = 0, t = 0;
            uint32_t m = 0;
            scan_avx2(bytes + start * 4, n, overflow_bits, zero_below_bits, &o, &t, &m);
            *overflow += o;
            *tiny += t;
            if (m > *max_bits) *max_bits = m;
        }
        return;
    }
#endif
    scan_portable(bytes, count, overflow_bits, zero_below_bits, overflow, tiny, max_bits);
}

