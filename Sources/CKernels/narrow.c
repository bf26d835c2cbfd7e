// Narrowing a float32 constant to float16/bfloat16 in one pass over its bytes: the rounding of
// hp_f32_to_f16/bf16, the count of what the target cannot hold, and the repair of those values
// (overflow to ± the largest finite value, tiny non-zeros optionally to ± the smallest subnormal).
// One read of the source instead of three (convert, scan, repair): on weights of hundreds of MB
// the passes over memory are the cost. The AVX2 loop is compiled with a target attribute (no
// package flags) and only called after dispatch.c has checked the CPU; the portable loop is plain C.
#include "internal.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// |x| bit patterns from which the rounding gives infinity, below which it gives zero, and the
// target's largest finite and smallest subnormal values.
// Outputs this large bypass the cache (streaming stores), as in x86_avx2_conversion.c.
#define HP_STREAM_THRESHOLD_BYTES ((size_t)4 << 20)

typedef struct { uint32_t overflow_bits, zero_below_bits; uint16_t largest, smallest; } Limits;

static Limits limits_of(int to_bf16) {
    // bfloat16 keeps float32's exponent: only the top ulp rounds up to infinity, and only float32
    // subnormals up to 2^-134 vanish. float16: |x| >= 65520 rounds to infinity, |x| <= 2^-25 to zero.
    if (to_bf16) return (Limits){0x7F7F8000u, 0x00008001u, 0x7F7Fu, 0x0001u};
    return (Limits){0x477FF000u, 0x33000001u, 0x7BFFu, 0x0001u};
}

static void narrow_portable(const unsigned char *src, uint16_t *dst, size_t n, int to_bf16, int clamp_tiny,
                            Limits lim, HPNarrowCounts *counts) {
    size_t o = 0, t = 0;
    uint32_t l = counts->max_bits;
    for (size_t i = 0; i < n; i++) {
        float f;
        uint32_t b;
        memcpy(&f, src + i * 4, 4);  // weights inside a protobuf start at any byte
        memcpy(&b, &f, 4);
        uint16_t h = to_bf16 ? hp_f32_to_bf16_scalar(f) : hp_f32_to_f16_scalar(f);
        uint32_t a = b & 0x7FFFFFFFu;
        uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
        if (a < 0x7F800000u) {
            if (a > l) l = a;
            if (a >= lim.overflow_bits) { h = sign | lim.largest; o++; }
            else if (a != 0 && a < lim.zero_below_bits) { t++; if (clamp_tiny) h = sign | lim.smallest; }
        }
        dst[i] = h;
    }
    counts->overflow += o;
    counts->tiny += t;
    counts->max_bits = l;
}

#ifdef HP_HAVE_X86_KERNELS
#define HP_AVX2 __attribute__((target("avx2,f16c")))
#include "x86_lanes.h"


// At most 2^32 values per call: the per-lane counters are 32-bit (2^29 per lane).
HP_AVX2 static void narrow_avx2(const unsigned char *src, uint16_t *dst, size_t n, int to_bf16, int clamp_tiny,
                                Limits lim, int stream, HPNarrowCounts *counts) {
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    // |x| bit patterns are below 2^31, so signed 32-bit compares and max order them correctly.
    const __m256i over_min = _mm256_set1_epi32((int32_t)lim.overflow_bits - 1);
    const __m256i tiny_max = _mm256_set1_epi32((int32_t)lim.zero_below_bits);
    const __m256i largest = _mm256_set1_epi32(lim.largest), smallest = _mm256_set1_epi32(lim.smallest);
    const __m256i sign_bit = _mm256_set1_epi32(0x8000), zero = _mm256_setzero_si256();
    __m256i v_over = zero, v_tiny = zero, v_max = zero;
    size_t i = 0;
    if (stream) {
        // Reach a 16-byte aligned destination with the portable loop, then stream.
        size_t head = 0;
        while (head < n && ((uintptr_t)(dst + head) & 15)) head++;
        narrow_portable(src, dst, head, to_bf16, clamp_tiny, lim, counts);
        i = head;
    }
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(src + i * 4));
        __m128i h = to_bf16 ? f32x8_to_bf16(_mm256_castsi256_ps(u)) : f32x8_to_f16(_mm256_castsi256_ps(u));
        __m256i a = _mm256_and_si256(u, abs_mask);
        __m256i finite = _mm256_cmpgt_epi32(inf, a);
        __m256i over = _mm256_and_si256(_mm256_cmpgt_epi32(a, over_min), finite);
        __m256i tiny = _mm256_and_si256(_mm256_cmpgt_epi32(tiny_max, a), _mm256_cmpgt_epi32(a, zero));
        v_over = _mm256_sub_epi32(v_over, over);
        v_tiny = _mm256_sub_epi32(v_tiny, tiny);
        v_max = _mm256_max_epi32(v_max, _mm256_and_si256(a, finite));
        __m256i fix = clamp_tiny ? _mm256_or_si256(over, tiny) : over;
        if (__builtin_expect(!_mm256_testz_si256(fix, fix), 0)) {
            // sign | largest where over, sign | smallest where tiny, packed to 16-bit lanes in order.
            __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 16), sign_bit);
            __m256i value = _mm256_or_si256(sign, _mm256_blendv_epi8(smallest, largest, over));
            __m128i value16 = _mm_packus_epi32(_mm256_castsi256_si128(value), _mm256_extracti128_si256(value, 1));
            __m128i fix16 = _mm_packs_epi32(_mm256_castsi256_si128(fix), _mm256_extracti128_si256(fix, 1));
            h = _mm_blendv_epi8(h, value16, fix16);
        }
        if (stream) _mm_stream_si128((__m128i *)(dst + i), h);
        else _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    if (stream) _mm_sfence();
    uint32_t lanes_over[8], lanes_tiny[8], lanes_max[8];
    _mm256_storeu_si256((__m256i *)lanes_over, v_over);
    _mm256_storeu_si256((__m256i *)lanes_tiny, v_tiny);
    _mm256_storeu_si256((__m256i *)lanes_max, v_max);
    for (int k = 0; k < 8; k++) {
        counts->overflow += lanes_over[k];
        counts->tiny += lanes_tiny[k];
        if (lanes_max[k] > counts->max_bits) counts->max_bits = lanes_max[k];
    }
    narrow_portable(src + i * 4, dst + i, n - i, to_bf16, clamp_tiny, lim, counts);
}
#endif

static int use_avx2(HPKernelISA isa) {
#ifdef HP_HAVE_X86_KERNELS
    return isa != HPKernelISAPortable && hp_best_isa() != HPKernelISAPortable;
#else
    (void)isa;
    return 0;
#endif
}

// Accumulates into `counts`; `stream` asks for streaming stores (large outputs).
static void narrow_any(HPKernelISA isa, const unsigned char *bytes, uint16_t *dst, size_t count, int to_bf16, int clamp_tiny,
                       Limits lim, int stream, HPNarrowCounts *counts) {
#ifdef HP_HAVE_X86_KERNELS
    if (use_avx2(isa)) {
        for (size_t start = 0; start < count; start += (size_t)1 << 32) {
            size_t n = count - start < ((size_t)1 << 32) ? count - start : ((size_t)1 << 32);
            narrow_avx2(bytes + start * 4, dst + start, n, to_bf16, clamp_tiny, lim, stream, counts);
        }
        return;
    }
#endif
    (void)stream;
    narrow_portable(bytes, dst, count, to_bf16, clamp_tiny, lim, counts);
}

void hp_f32_narrow(HPKernelISA isa, const void *src, uint16_t *dst, size_t count, int to_bf16, int clamp_tiny,
                   HPNarrowCounts *counts) {
    *counts = (HPNarrowCounts){0, 0, 0};
    narrow_any(isa, (const unsigned char *)src, dst, count, to_bf16, clamp_tiny, limits_of(to_bf16),
               count * 2 >= HP_STREAM_THRESHOLD_BYTES, counts);
}

void hp_f32_scale_narrow(HPKernelISA isa, const void *src, uint16_t *dst, size_t rows, size_t inner,
                         const double *factors, size_t channels, int to_bf16, int clamp_tiny, HPNarrowCounts *counts) {
    *counts = (HPNarrowCounts){0, 0, 0};
    Limits lim = limits_of(to_bf16);
    int stream = rows * inner * 2 >= HP_STREAM_THRESHOLD_BYTES;
    // The scaled float32 values pass through a small cache-resident buffer, never through memory.
    enum { CHUNK = 2048 };
    float scaled[CHUNK] __attribute__((aligned(64)));
    const unsigned char *bytes = (const unsigned char *)src;
    for (size_t r = 0; r < rows; r++) {
        const double *factor = &factors[r % channels];
        for (size_t k = 0; k < inner; k += CHUNK) {
            size_t n = inner - k < CHUNK ? inner - k : CHUNK;
            size_t at = r * inner + k;
            hp_scale_rows_f32_by_f64(isa, bytes + at * 4, scaled, 1, n, factor, 1);
            narrow_any(isa, (const unsigned char *)scaled, dst + at, n, to_bf16, clamp_tiny, lim, stream, counts);
        }
    }
}
