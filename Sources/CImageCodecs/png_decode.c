// libpng behind a status-returning interface: libpng's error callback must not return, so it
// longjmps back here and every failure becomes -1 plus libpng's own message.
#include "include/CImageCodecs.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size, offset;
    HPPNGInfo *info;
    jmp_buf jump;
} Reader;

static void on_error(png_structp png, png_const_charp message) {
    Reader *r = (Reader *)png_get_error_ptr(png);
    snprintf(r->info->message, sizeof r->info->message, "%s", message ? message : "libpng error");
    longjmp(r->jump, 1);
}

static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void read_bytes(png_structp png, png_bytep out, png_size_t count) {
    Reader *r = (Reader *)png_get_io_ptr(png);
    if (count > r->size - r->offset) png_error(png, "file is truncated");
    memcpy(out, r->data + r->offset, count);
    r->offset += count;
}

// Everything both entry points share: structures, the memory source, the header.
#define HP_PNG_OPEN(r, png, pnginfo, data, size, info)                                          \
    Reader r = {data, size, 0, info, {{0}}};                                                     \
    memset(info, 0, sizeof *info);                                                               \
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning); \
    if (!png) { snprintf(info->message, sizeof info->message, "out of memory"); return -1; }     \
    png_infop pnginfo = png_create_info_struct(png);                                             \
    if (!pnginfo) { png_destroy_read_struct(&png, NULL, NULL); snprintf(info->message, sizeof info->message, "out of memory"); return -1; }

static void fill_info(png_structp png, png_infop pnginfo, HPPNGInfo *info) {
    info->width = png_get_image_width(png, pnginfo);
    info->height = png_get_image_height(png, pnginfo);
    info->bitDepth = png_get_bit_depth(png, pnginfo);
    info->colorType = png_get_color_type(png, pnginfo);
    info->interlaced = png_get_interlace_type(png, pnginfo) != PNG_INTERLACE_NONE;
}

int hp_png_read_info(const uint8_t *data, size_t size, HPPNGInfo *info) {
    HP_PNG_OPEN(r, png, pnginfo, data, size, info)
    if (setjmp(r.jump)) { png_destroy_read_struct(&png, &pnginfo, NULL); return -1; }
    png_set_read_fn(png, &r, read_bytes);
    png_read_info(png, pnginfo);
    fill_info(png, pnginfo, info);
    png_destroy_read_struct(&png, &pnginfo, NULL);
    return 0;
}

int hp_png_decode_rgb(const uint8_t *data, size_t size, int bgr, uint8_t *dst, size_t dstRowStride,
                      uint32_t width, uint32_t height, HPPNGInfo *info) {
    HP_PNG_OPEN(r, png, pnginfo, data, size, info)
    // volatile: modified between setjmp and a possible longjmp.
    png_bytep *volatile rows = NULL;
    if (setjmp(r.jump)) { free(rows); png_destroy_read_struct(&png, &pnginfo, NULL); return -1; }
    png_set_read_fn(png, &r, read_bytes);
    png_read_info(png, pnginfo);
    fill_info(png, pnginfo, info);
    if (info->width != width || info->height != height) png_error(png, "size differs from the header read before");
    // The same transforms as OpenCV's imread(IMREAD_COLOR): expand, strip 16-bit and alpha, gray to RGB.
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    if (bgr) png_set_bgr(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pnginfo);
    if (png_get_rowbytes(png, pnginfo) != (size_t)width * 3) png_error(png, "unexpected row size after expansion to 8-bit RGB");
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = dst + (size_t)y * dstRowStride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &pnginfo, NULL);
    return 0;
}
