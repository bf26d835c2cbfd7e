#include "CKernels.h"
#include <string.h>

void hp_f32_range_scan(const void *src, size_t count, uint32_t overflow_bits, uint32_t zero_below_bits,
                       size_t *overflow, size_t *tiny, uint32_t *max_bits) {
    const unsigned char *bytes = (const unsigned char *)src;
    size_t over = 0, small = 0;
    uint32_t largest = 0;
    // Blocks copied to an aligned buffer: protobuf-parsed weights start at any byte.
    uint32_t block[1024];
    for (size_t start = 0; start < count; start += 1024) {
        size_t n = count - start < 1024 ? count - start : 1024;
        memcpy(block, bytes + start * 4, n * 4);
        for (size_t i = 0; i < n; i++) {
            uint32_t a = block[i] & 0x7FFFFFFFu;
            uint32_t finite = a < 0x7F800000u;
            over += (a >= overflow_bits) & finite;
            small += (a != 0) & (a < zero_below_bits);
            uint32_t m = finite ? a : 0;
            largest = m > largest ? m : largest;
        }
    }
    *overflow = over;
    *tiny = small;
    *max_bits = largest;
}
