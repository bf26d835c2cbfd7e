// Streamed activation statistics (calibration and range analysis): one pass for the extremes, one
// for the |x| histogram. Portable C the compiler vectorizes (the extremes) or keeps scalar (the
// histogram's scattered increments); no ISA-specific code is needed for memory-bound loops.
#include "CKernels.h"

#include <string.h>

static inline int finite_bits(uint32_t bits) { return (bits & 0x7f800000u) != 0x7f800000u; }

void hp_f32_statistics(const float *x, size_t count, HPStatistics *out) {
    // Branch-free: a non-finite lane contributes the neutral element, so the loop vectorizes.
    float lo = __builtin_inff(), hi = -__builtin_inff(), largest = 0;
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        float e = x[i];
        uint32_t bits;
        memcpy(&bits, &e, 4);
        int ok = finite_bits(bits);
        float a = e < 0 ? -e : e;
        lo = ok && e < lo ? e : lo;
        hi = ok && e > hi ? e : hi;
        largest = ok && a > largest ? a : largest;
        bad += !ok;
    }
    out->min = lo;
    out->max = hi;
    out->largest_abs = largest;
    out->non_finite = bad;
}

void hp_f32_abs_histogram(const float *x, size_t count, double scale, int64_t *counts, size_t bins) {
    // In double, |x| · scale is exact for a power-of-two scale (see AbsHistogram), so each value
    // lands in its true bin. Values at or past the last edge go to the last bin.
    size_t last = bins - 1;
    for (size_t i = 0; i < count; i++) {
        float e = x[i];
        uint32_t bits;
        memcpy(&bits, &e, 4);
        if (!finite_bits(bits)) continue;
        double v = (double)(e < 0 ? -e : e) * scale;
        size_t k = v >= (double)last ? last : (size_t)v;
        counts[k]++;
    }
}
