// CImageCodecs: the system's image decoders as Swift sees them. TurboJPEG's API is plain C with
// status returns, so Swift calls it directly; libpng reports errors with longjmp, which Swift code
// must never be unwound through, so PNG decoding goes through the small C function below that
// catches them and returns a status and message instead. Translation only, no policy.
#ifndef HALFPIPE_CIMAGECODECS_H
#define HALFPIPE_CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>
#include <turbojpeg.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a PNG header says, and libpng's message when a call fails.
typedef struct {
    uint32_t width, height;
    int32_t bitDepth;    ///< bits per sample in the file: 1, 2, 4, 8 or 16
    int32_t colorType;   ///< PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    int32_t interlaced;  ///< 1 for Adam7
    char message[256];   ///< libpng's error message when a function returns non-zero
} HPPNGInfo;

/// Reads the header of a PNG held in memory. Returns 0, or -1 with `info->message` set.
int hp_png_read_info(const uint8_t *data, size_t size, HPPNGInfo *info);

/// Decodes a PNG held in memory into 8-bit, 3-channel pixels (RGB, or BGR when `bgr` is non-zero):
/// palette and low-bit gray are expanded, 16-bit samples keep their high byte, gray is replicated,
/// alpha is dropped. `dst` has `height` rows `dstRowStride` bytes apart, and `width`/`height` must be
/// the header's. Returns 0, or -1 with `info->message` set (then `dst` may be partly written).
int hp_png_decode_rgb(const uint8_t *data, size_t size, int bgr, uint8_t *dst, size_t dstRowStride,
                      uint32_t width, uint32_t height, HPPNGInfo *info);

#ifdef __cplusplus
}
#endif
#endif
