// HalfPipe fused preprocessing (see Sources/ImagingCUDA/PreprocessKernel.swift).
// The per-image record, generated from PreprocessRecord.Field (Sources/ImagingCUDA/PreprocessRecord.swift).
struct HalfpipePreprocessRecord {
    int pixelOffsetLow;  // the image's pixels: bytes from the staging buffer's start, low 32 bits
    int width;  // source image width
    int height;  // source image height
    int padLeft;  // first output column of the image
    int padTop;  // first output row of the image
    int visibleWidth;  // output columns the image covers
    int visibleHeight;  // output rows the image covers
    int xTable;  // x tap indices (then weights), in ints from the tables' start
    int yTable;  // y tap indices (then weights), in ints from the tables' start
    int xTaps;  // taps per output column
    int yTaps;  // taps per output row
    int channelMap0;  // source channel of output channel 0
    int channelMap1;  // source channel of output channel 1
    int channelMap2;  // source channel of output channel 2
    int pixelOffsetHigh;  // the pixels' offset, high 32 bits
};
static_assert(sizeof(HalfpipePreprocessRecord) == 15 * sizeof(int), "one int per record field");

extern "C" __global__ void halfpipe_preprocess(
    const unsigned char* __restrict__ stage, long long recordsAt, long long tablesAt, long long outputTableAt,
    long long padAt, int count, unsigned char* __restrict__ out, int height, int width, int nhwc, int elementSize)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int n = blockIdx.z;
    if (x >= width || y >= height) return;
    const HalfpipePreprocessRecord* r = (const HalfpipePreprocessRecord*)(stage + recordsAt) + n;
    const int* tables = (const int*)(stage + tablesAt);
    int level[3] = {0, 0, 0};
    int map[3] = {0, 1, 2};
    bool inside = false;
    if (n < count) {
        const int vx = x - r->padLeft, vy = y - r->padTop;
        if (vx >= 0 && vy >= 0 && vx < r->visibleWidth && vy < r->visibleHeight) {
            inside = true;
            const int xt = r->xTaps, yt = r->yTaps;
            const int* xi = tables + r->xTable;
            const int* xw = xi + r->visibleWidth * xt;
            const int* yi = tables + r->yTable;
            const int* yw = yi + r->visibleHeight * yt;
            const unsigned char* src = stage + (long long)(unsigned)r->pixelOffsetLow + ((long long)r->pixelOffsetHigh << 32);
            const long long rowBytes = (long long)r->width * 3;
            int a0 = 0, a1 = 0, a2 = 0;
            for (int ky = 0; ky < yt; ky++) {
                const int wy = yw[vy * yt + ky];
                const unsigned char* row = src + yi[vy * yt + ky] * rowBytes;
                for (int kx = 0; kx < xt; kx++) {
                    const int w = wy * xw[vx * xt + kx];
                    const unsigned char* p = row + xi[vx * xt + kx] * 3;
                    a0 += p[0] * w; a1 += p[1] * w; a2 += p[2] * w;
                }
            }
            level[0] = min(255, max(0, (a0 + (1 << 21)) >> 22));
            level[1] = min(255, max(0, (a1 + (1 << 21)) >> 22));
            level[2] = min(255, max(0, (a2 + (1 << 21)) >> 22));
            map[0] = r->channelMap0; map[1] = r->channelMap1; map[2] = r->channelMap2;
        }
    }
    const unsigned char* outputTable = stage + outputTableAt;
    const unsigned char* pad = stage + padAt;
    for (int c = 0; c < 3; c++) {
        const unsigned char* v = inside ? outputTable + (c * 256 + level[map[c]]) * elementSize : pad + c * elementSize;
        const long long o = nhwc ? ((((long long)n * height + y) * width + x) * 3 + c)
                                 : ((((long long)n * 3 + c) * height + y) * width + x);
        if (elementSize == 2) ((unsigned short*)out)[o] = *(const unsigned short*)v;
        else if (elementSize == 4) ((unsigned int*)out)[o] = *(const unsigned int*)v;
        else out[o] = *v;
    }
}