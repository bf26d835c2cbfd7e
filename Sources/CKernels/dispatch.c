// Run-time choice of kernel: cpuid once, then every call goes to the best loop the CPU can run.
#include "internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static HPKernelISA detect(void) {
#ifdef HP_HAVE_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return HPKernelISAX86F16CAVX2;
#endif
    return HPKernelISAPortable;
}

HPKernelISA hp_best_isa(void) {
    // Racing first calls compute the same answer; the int store is atomic on every target we build.
    static volatile int cached = -1;
    if (cached < 0) cached = (int)detect();
    return (HPKernelISA)cached;
}

HPKernelISA hp_best_resample_isa(void) {
    static volatile int cached = -1;
    if (cached < 0) {
        int level = (int)hp_best_isa();
#ifdef HP_HAVE_X86_KERNELS
        if (level == HPKernelISAX86F16CAVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl"))
            level = HPKernelISAX86AVX512;
#endif
        cached = level;
    }
    return (HPKernelISA)cached;
}

int hp_cpu_has_int8_dot_product(void) {
#ifdef HP_HAVE_X86_KERNELS
    __builtin_cpu_init();
    // AVX512-VNNI, or AVX-VNNI (cpuid leaf 7, sub-leaf 1, EAX bit 4), which needs AVX2's OS support.
    if (__builtin_cpu_supports("avx512vnni")) return 1;
    unsigned int eax, ebx, ecx, edx;
    if (__builtin_cpu_supports("avx2") && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4))) return 1;
    return 0;
#else
    // Arm's int8 paths (sdot/udot, or widening multiplies) do not saturate.
    return 1;
#endif
}

const char *hp_isa_name(HPKernelISA isa) {
    switch (isa) {
    case HPKernelISAX86AVX512: return "x86-64 avx512";
    case HPKernelISAX86F16CAVX2: return "x86-64 avx2+f16c";
    default: return "portable";
    }
}

// A requested level above what the CPU has is lowered, so a caller can never hit an illegal instruction.
static inline int use_x86(HPKernelISA isa) {
    return isa >= HPKernelISAX86F16CAVX2 && hp_best_isa() == HPKernelISAX86F16CAVX2;
}

#ifdef HP_HAVE_X86_KERNELS
#define DISPATCH(name, ...) do { if (use_x86(isa)) { name##_avx2(__VA_ARGS__); return; } name##_portable(__VA_ARGS__); } while (0)
#else
#define DISPATCH(name, ...) do { (void)isa; name##_portable(__VA_ARGS__); } while (0)
#endif

void hp_f32_to_f16(HPKernelISA isa, const float *s, uint16_t *d, size_t n) { DISPATCH(hp_f32_to_f16, s, d, n); }
void hp_f16_to_f32(HPKernelISA isa, const uint16_t *s, float *d, size_t n) { DISPATCH(hp_f16_to_f32, s, d, n); }
void hp_f32_to_bf16(HPKernelISA isa, const float *s, uint16_t *d, size_t n) { DISPATCH(hp_f32_to_bf16, s, d, n); }
void hp_bf16_to_f32(HPKernelISA isa, const uint16_t *s, float *d, size_t n) { DISPATCH(hp_bf16_to_f32, s, d, n); }
void hp_u8_to_f16(HPKernelISA isa, const uint8_t *s, uint16_t *d, size_t n, float scale, float bias) { DISPATCH(hp_u8_to_f16, s, d, n, scale, bias); }
void hp_u8_to_f32(HPKernelISA isa, const uint8_t *s, float *d, size_t n, float scale, float bias) { DISPATCH(hp_u8_to_f32, s, d, n, scale, bias); }
