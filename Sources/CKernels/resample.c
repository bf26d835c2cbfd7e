// The fused preprocessing kernel: separable resampling of uint8 HWC rows, rounding to a uint8 level,
// then a per-channel lookup table that does normalization and the cast in one load. The body is
// compiled three times: portable; AVX2 (the vertical pass vectorizes, the two-tap horizontal pass and
// the output stage use intrinsics); AVX-512 (four pixels per in-register gather). Dispatch picks one,
// and all three give identical bytes (the tests compare them).
#include "internal.h"
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// Four output pixels' two-tap columns as the AVX-512 loop consumes them (see resample_body.inc).
typedef struct {
    int32_t base;            // first source column of the group, or -1: do it pixel by pixel
    uint8_t left[16], right[16];
    int16_t wl[16], wr[16];
} HPResampleGroup;

size_t hp_resample_groups_size(int32_t dstWidth) { return sizeof(HPResampleGroup) * (size_t)(dstWidth / 4 > 0 ? dstWidth / 4 : 1); }

void hp_resample_build_groups(const HPResamplePlan *p, void *out) {
    HPResampleGroup *g = (HPResampleGroup *)out;
    const int32_t *xi = p->xIndex, *xw = p->xWeight;
    for (int32_t k = 0; k < p->dstWidth / 4; k++) {
        const int32_t x0 = 4 * k, base = xi[2 * x0];
        memset(&g[k], 0, sizeof g[k]);
        g[k].base = base;
        for (int32_t j = 0; j < 4; j++) {
            const int32_t l = 3 * (xi[2 * (x0 + j)] - base), r = 3 * (xi[2 * (x0 + j) + 1] - base);
            if (l < 0 || r < 0 || l + 2 > 31 || r + 2 > 31) { g[k].base = -1; break; }
            for (int32_t c = 0; c < 3; c++) {
                g[k].left[3 * j + c] = (uint8_t)(l + c); g[k].right[3 * j + c] = (uint8_t)(r + c);
                g[k].wl[3 * j + c] = (int16_t)xw[2 * (x0 + j)]; g[k].wr[3 * j + c] = (int16_t)xw[2 * (x0 + j) + 1];
            }
        }
    }
}

#define HP_RESAMPLE_ATTR
#define HP_RESAMPLE_NAME(suffix) hp_resample_portable_##suffix
#include "resample_body.inc"
#undef HP_RESAMPLE_ATTR
#undef HP_RESAMPLE_NAME

#ifdef HP_HAVE_X86_KERNELS
#include <immintrin.h>
#define HP_RESAMPLE_AVX2 1
#define HP_RESAMPLE_ATTR __attribute__((target("avx2,f16c")))
#define HP_RESAMPLE_NAME(suffix) hp_resample_avx2_##suffix
#include "resample_body.inc"
#undef HP_RESAMPLE_AVX2
#undef HP_RESAMPLE_ATTR
#undef HP_RESAMPLE_NAME

#define HP_RESAMPLE_AVX2 1
#define HP_RESAMPLE_AVX512 1
#define HP_RESAMPLE_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c")))
#define HP_RESAMPLE_NAME(suffix) hp_resample_avx512_##suffix
#include "resample_body.inc"
#undef HP_RESAMPLE_AVX512
#undef HP_RESAMPLE_AVX2
#undef HP_RESAMPLE_ATTR
#undef HP_RESAMPLE_NAME
#endif

void hp_resample_rows(HPKernelISA isa, const HPResamplePlan *plan, int32_t rowBegin, int32_t rowEnd, int32_t *acc, uint8_t *levels) {
#ifdef HP_HAVE_X86_KERNELS
    // A level above what the CPU has is lowered, never an illegal instruction.
    if (isa == HPKernelISAX86AVX512 && hp_best_resample_isa() == HPKernelISAX86AVX512) {
        hp_resample_avx512_rows(plan, rowBegin, rowEnd, acc, levels);
        return;
    }
    if (isa >= HPKernelISAX86F16CAVX2 && hp_best_isa() == HPKernelISAX86F16CAVX2) {
        hp_resample_avx2_rows(plan, rowBegin, rowEnd, acc, levels);
        return;
    }
#endif
    (void)isa;
    hp_resample_portable_rows(plan, rowBegin, rowEnd, acc, levels);
}

void hp_fill_rect(void *dst, ptrdiff_t rowStride, ptrdiff_t pixelStride, ptrdiff_t channelStride,
                  int32_t width, int32_t height, int32_t channels, int32_t elementSize, const void *values) {
    if (width <= 0 || height <= 0) return;
    // Planar rows (pixelStride 1) are plain runs the compiler vectorizes; interleaved ones a strided loop.
    for (int32_t y = 0; y < height; y++) {
        for (int32_t c = 0; c < channels; c++) {
            char *p = (char *)dst + (y * rowStride + c * channelStride) * elementSize;
            const char *v = (const char *)values + c * elementSize;
            switch (elementSize) {
            case 1: { const uint8_t e = *(const uint8_t *)v; uint8_t *d = (uint8_t *)p;
                      if (pixelStride == 1) { memset(d, e, (size_t)width); break; }
                      for (int32_t x = 0; x < width; x++) d[x * pixelStride] = e; break; }
            case 2: { uint16_t e; memcpy(&e, v, 2); uint16_t *d = (uint16_t *)p;
                      if (pixelStride == 1) { for (int32_t x = 0; x < width; x++) d[x] = e; break; }
                      for (int32_t x = 0; x < width; x++) d[x * pixelStride] = e; break; }
            default: { uint32_t e; memcpy(&e, v, 4); uint32_t *d = (uint32_t *)p;
                       if (pixelStride == 1) { for (int32_t x = 0; x < width; x++) d[x] = e; break; }
                       for (int32_t x = 0; x < width; x++) d[x * pixelStride] = e; break; }
            }
        }
    }
}
