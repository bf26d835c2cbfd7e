// Portable float32 <-> float16/bfloat16 conversions, bit-exact with numpy (npy_half.c) and
// ml_dtypes. They define the semantics; the SIMD kernels must agree with them on every input.
#include "CKernels.h"
#include <math.h>
#include <string.h>

// numpy multiplies and adds separately; a fused multiply-add would round differently.
#pragma STDC FP_CONTRACT OFF

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t hp_f32_to_f16_scalar(float value) {
    uint32_t f = bits_of(value);
    uint16_t sign = (uint16_t)((f & 0x80000000u) >> 16);
    uint32_t exp = f & 0x7f800000u;
    if (exp >= 0x47800000u) {               // overflow, Inf or NaN
        if (exp == 0x7f800000u) {
            uint32_t mant = f & 0x007fffffu;
            if (mant != 0) {                 // NaN: keep the top payload bits, stay a NaN
                uint16_t h = (uint16_t)(0x7c00u + (mant >> 13));
                if (h == 0x7c00u) h++;
                return sign + h;
            }
            return sign + 0x7c00u;
        }
        return sign + 0x7c00u;               // too large: +-Inf
    }
    if (exp <= 0x38000000u) {               // float16 subnormal or zero
        if (exp < 0x33000000u) return sign;  // below half the smallest subnormal
        uint32_t e = exp >> 23;
        uint32_t m = 0x00800000u + (f & 0x007fffffu);
        // value = m * 2^(e-150); a float16 subnormal is h * 2^-24, so h = m >> (126 - e), rounded
        // to nearest even on the bits shifted out.
        uint32_t shift = 113 - e;            // e in [102, 112]
        uint32_t rem_mask = (1u << (shift + 13)) - 1;
        uint32_t half = 1u << (shift + 12);
        uint32_t rem = m & rem_mask;
        uint32_t h = m >> (shift + 13);
        if (rem > half || (rem == half && (h & 1u))) h++;
        return (uint16_t)(sign + h);
    }
    // Normal: rebias the exponent, round the mantissa to 10 bits (a carry may reach Inf, correctly).
    uint32_t h_exp = (exp - 0x38000000u) >> 13;
    uint32_t mant = f & 0x007fffffu;
    uint32_t h = h_exp + (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign + h);
}

float hp_f16_to_f32_scalar(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t exp = h & 0x7c00u;
    uint32_t mant = h & 0x03ffu;
    if (exp == 0) {
        if (mant == 0) return float_of(sign);
        // Subnormal: normalise the mantissa.
        int e = -1;
        do { e++; mant <<= 1; } while ((mant & 0x0400u) == 0);
        uint32_t f_exp = (uint32_t)(127 - 15 - e) << 23;
        return float_of(sign | f_exp | ((mant & 0x03ffu) << 13));
    }
    if (exp == 0x7c00u) return float_of(sign | 0x7f800000u | (mant << 13));  // Inf/NaN, payload kept
    return float_of(sign | ((exp + 0x1c000u) << 13) | (mant << 13));
}

uint16_t hp_f32_to_bf16_scalar(float value) {
    uint32_t f = bits_of(value);
    if ((f & 0x7fffffffu) > 0x7f800000u) {
        // NaN: ml_dtypes (Eigen's float_to_bfloat16_rtne) returns the canonical quiet NaN with the
        // sign kept and the payload dropped: 0x7FC0 / 0xFFC0. Keeping the top payload bits (as for
        // float16) disagrees with ml_dtypes' astype, e.g. 0x7FA00000 -> 0x7FC0, not 0x7FE0.
        return (uint16_t)(((f >> 16) & 0x8000u) | 0x7fc0u);
    }
    uint32_t bias = 0x7fffu + ((f >> 16) & 1u);
    return (uint16_t)((f + bias) >> 16);
}

uint16_t hp_f64_to_f16_scalar(double value) {
    uint64_t d;
    memcpy(&d, &value, 8);
    uint16_t sign = (uint16_t)((d >> 48) & 0x8000u);
    uint64_t exp = d & 0x7ff0000000000000ull;
    uint64_t mant = d & 0x000fffffffffffffull;
    if (exp >= 0x40f0000000000000ull) {     // |x| >= 2^16: overflow, Inf or NaN
        if (exp == 0x7ff0000000000000ull && mant != 0) {
            uint16_t h = (uint16_t)(0x7c00u + (mant >> 42));  // NaN: top payload bits, still a NaN
            if (h == 0x7c00u) h++;
            return sign + h;
        }
        return sign + 0x7c00u;
    }
    if (exp <= 0x3f00000000000000ull) {     // below 2^-14: float16 subnormal or zero
        if (exp < 0x3e60000000000000ull) return sign;  // below half the smallest subnormal
        // value = m * 2^(e-1075) and a subnormal is h * 2^-24, so h = m >> (1051 - e), rounded
        // to nearest even on the bits shifted out.
        uint32_t shift = 1051u - (uint32_t)(exp >> 52);  // e in [998, 1008]: shift in [43, 53]
        uint64_t m = 0x0010000000000000ull + mant;
        uint64_t rem = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
        uint64_t h = m >> shift;
        if (rem > half || (rem == half && (h & 1u))) h++;
        return (uint16_t)(sign + h);
    }
    // Normal: rebias the exponent, round the mantissa to 10 bits (a carry may reach Inf, correctly).
    uint64_t h = ((exp - 0x3f00000000000000ull) >> 42) + (mant >> 42);
    uint64_t rem = mant & 0x3ffffffffffull;
    if (rem > 0x20000000000ull || (rem == 0x20000000000ull && (h & 1u))) h++;
    return (uint16_t)(sign + h);
}

uint16_t hp_f64_to_bf16_scalar(double value) {
    // Rounded once, as IEEE and ml_dtypes (>= 0.7) do: narrow to float32 rounding to odd (truncate,
    // then set the last bit when anything was cut off), then to bfloat16 rounding to nearest even.
    // float32 keeps 16 more bits than bfloat16 in every range (subnormals too), so the sticky bit
    // decides exactly the ties that a second round-to-nearest would have moved (1 + 2^-8 + 2^-30).
    float f = (float)value;
    if (value == value && (double)f != value) {
        uint32_t b = bits_of(f);
        double back = (double)f;
        if (fabs(back) > fabs(value)) b -= 1;  // rounded away from zero (Inf included): step back toward it
        f = float_of(b | 1u);
    }
    return hp_f32_to_bf16_scalar(f);
}

float hp_bf16_to_f32_scalar(uint16_t bits) { return float_of((uint32_t)bits << 16); }

void hp_f32_to_f16_portable(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hp_f32_to_f16_scalar(src[i]);
}
void hp_f16_to_f32_portable(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hp_f16_to_f32_scalar(src[i]);
}
void hp_f32_to_bf16_portable(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hp_f32_to_bf16_scalar(src[i]);
}
void hp_bf16_to_f32_portable(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hp_bf16_to_f32_scalar(src[i]);
}
void hp_u8_to_f16_portable(const uint8_t *src, uint16_t *dst, size_t n, float scale, float bias) {
    for (size_t i = 0; i < n; i++) dst[i] = hp_f32_to_f16_scalar((float)src[i] * scale + bias);
}
void hp_u8_to_f32_portable(const uint8_t *src, float *dst, size_t n, float scale, float bias) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i] * scale + bias;
}
