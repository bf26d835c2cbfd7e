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
    /// AVX-512 (F, BW, VL) on top of AVX2/F16C: only the resampling kernel has such a loop;
    /// everything else runs its AVX2 loop at this level.
    HPKernelISAX86AVX512 = 2,
} HPKernelISA;

/// The best level of the conversion kernels this CPU supports (checked once with cpuid, cached):
/// portable or AVX2/F16C.
HPKernelISA hp_best_isa(void);
/// The best level of the resampling kernel: AVX-512 where the CPU has it, else hp_best_isa().
HPKernelISA hp_best_resample_isa(void);
/// Whether the CPU multiplies int8 by uint8 without saturating 16-bit intermediates (x86: VNNI).
/// Without it, ONNX Runtime's x86 int8 kernels (vpmaddubsw) saturate when both a weight and an
/// activation are large, so weights are best kept to 7 bits there (ORT's reduce_range).
int hp_cpu_has_int8_dot_product(void);
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

/// What narrowing a float32 tensor met: finite values beyond the target's range, non-zero values
/// below its smallest subnormal, and the largest finite |x| as float32 bits.
typedef struct {
    size_t overflow;
    size_t tiny;
    uint32_t max_bits;
} HPNarrowCounts;

/// Narrows `count` float32 values read from possibly unaligned `src` to float16 (to_bf16 = 0) or
/// bfloat16 in one pass. Each value rounds as hp_f32_to_f16 / hp_f32_to_bf16 round it, except that
/// finite values beyond the target's range become ± its largest finite value and, with clamp_tiny,
/// non-zero values below its smallest subnormal become ± that subnormal (without, they round to ±0).
/// `counts` receives how many values were of each kind (tiny ones counted under both policies).
void hp_f32_narrow(HPKernelISA isa, const void *src, uint16_t *dst, size_t count, int to_bf16, int clamp_tiny,
                   HPNarrowCounts *counts);
/// hp_scale_rows_f32_by_f64 then hp_f32_narrow, fused: each value of row r (rows of `inner` values)
/// is scaled by factors[r % channels] in float64, rounded to float32, then narrowed and counted,
/// with the same bits as the two calls in turn but without the float32 intermediate in memory
/// (a folded BatchNormalization's weights going straight to float16).
void hp_f32_scale_narrow(HPKernelISA isa, const void *src, uint16_t *dst, size_t rows, size_t inner,
                         const double *factors, size_t channels, int to_bf16, int clamp_tiny, HPNarrowCounts *counts);
/// dst[r * inner + k] = (float)((double)src[r * inner + k] * factors[r % channels]) for every row r:
/// the weights of a folded BatchNormalization, computed in float64 and rounded once. src may be unaligned.
/// Pass hp_best_isa(); tests pass each level.
void hp_scale_rows_f32_by_f64(HPKernelISA isa, const void *src, float *dst, size_t rows, size_t inner, const double *factors, size_t channels);

/// Extremes of the finite values of a float32 tensor, and how many values are Inf or NaN
/// (min = +Inf, max = -Inf, largest_abs = 0 when none is finite).
typedef struct {
    float min;
    float max;
    float largest_abs;
    size_t non_finite;
} HPStatistics;

void hp_f32_statistics(const float *x, size_t count, HPStatistics *out);
/// counts[min(bins - 1, floor(|x| * scale))] += 1 for every finite x.
void hp_f32_abs_histogram(const float *x, size_t count, double scale, int64_t *counts, size_t bins);

/// Scalar reference conversions (exactly numpy's), exposed for tests and odd element counts.
uint16_t hp_f32_to_f16_scalar(float value);
float hp_f16_to_f32_scalar(uint16_t bits);
uint16_t hp_f32_to_bf16_scalar(float value);
float hp_bf16_to_f32_scalar(uint16_t bits);
/// float64 -> float16 rounded once, as numpy's astype does (float64 -> float32 -> float16 rounds twice).
uint16_t hp_f64_to_f16_scalar(double value);
/// float64 -> bfloat16 rounded once (ml_dtypes 0.7 and IEEE; through float32 it would round twice).
uint16_t hp_f64_to_bf16_scalar(double value);


/// One image's share of a fused preprocessing pass: uint8 HWC (3-channel) source pixels resampled
/// into a rectangle of the output, each value rounded to a uint8 level, then normalized, cast and
/// laid out. Tap tables are per output pixel/row: `xTaps` absolute source columns and weights in
/// 1/2048 summing to 2048 (likewise for rows). The output stage is a per-channel 256-entry lookup
/// table; with `arithmetic` set (float16/float32 only) the SIMD path computes the same float32
/// formula level * scale[c] + bias[c] (multiply, then add) instead, bit-identical to the table.
typedef struct {
    const uint8_t *src;
    int32_t srcWidth, srcHeight;
    size_t srcRowStride;              ///< bytes between source rows
    int32_t srcColumnBegin, srcColumnEnd; ///< the source columns any tap reads (half-open)
    int32_t dstWidth, dstHeight;      ///< the rectangle written
    int32_t xTaps, yTaps;
    const int32_t *xIndex;            ///< dstWidth * xTaps source columns
    const int32_t *xWeight;           ///< dstWidth * xTaps weights
    const int32_t *yIndex;            ///< dstHeight * yTaps source rows
    const int32_t *yWeight;
    int32_t xContiguous;              ///< one tap per column and xIndex[x] == xIndex[0] + x
    int32_t xAdjacent;                ///< two taps per column, the second the next column or weighted 0
    int32_t channelMap[3];            ///< output channel c reads source channel channelMap[c]
    void *dst;                        ///< element (row 0, column 0, channel 0) of the rectangle
    ptrdiff_t dstRowStride, dstPixelStride, dstChannelStride; ///< in elements
    int32_t elementSize;              ///< 1, 2 or 4 bytes
    const void *lut;                  ///< 3 * 256 elements of elementSize bytes, by output channel
    int32_t arithmetic;               ///< non-zero: float16 (elementSize 2) or float32 (4) by formula
    float scale[3], bias[3];          ///< by output channel
    const void *groups;               ///< hp_resample_build_groups' layout of the column taps, or NULL
} HPResamplePlan;

/// Bytes of the precomputed column-tap layout the AVX-512 loop uses for two-tap adjacent columns,
/// and building it from a plan's xIndex, xWeight and dstWidth. Optional: without it (plan.groups
/// NULL) each hp_resample_rows call builds its own; with it, a stream of same-size images builds it once.
size_t hp_resample_groups_size(int32_t dstWidth);
void hp_resample_build_groups(const HPResamplePlan *plan, void *groups);

/// Rows [rowBegin, rowEnd) of the rectangle. Scratch private to the calling thread: `acc` holds
/// srcWidth * 3 + 32 int32s and `levels` dstWidth * 3 bytes. Different row ranges may run concurrently.
void hp_resample_rows(HPKernelISA isa, const HPResamplePlan *plan, int32_t rowBegin, int32_t rowEnd,
                      int32_t *acc, uint8_t *levels);
/// Fills a width x height rectangle of `channels`-channel pixels with one value per channel.
void hp_fill_rect(void *dst, ptrdiff_t rowStride, ptrdiff_t pixelStride, ptrdiff_t channelStride,
                  int32_t width, int32_t height, int32_t channels, int32_t elementSize, const void *values);

#ifdef __cplusplus
}
#endif
#endif
