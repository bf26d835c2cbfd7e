/// The CUDA C source of the fused preprocessing kernel, compiled by NVRTC at run time. One thread
/// per output pixel of the whole batch: padding, or the image's taps summed as the CPU sums them
/// (integers, so the same level), then the same output table. Everything the kernel reads sits in one
/// staging buffer copied with one asynchronous transfer: per-image records, tap tables, the output
/// and pad elements, and the images' pixels (`PreprocessStaging`). The per-image record is
/// `PreprocessRecord`'s generated struct, read by field name.
enum PreprocessKernel {
    static let name = "halfpipe_preprocess"

    static let source = """
    // HalfPipe fused preprocessing (see Sources/ImagingCUDA/PreprocessKernel.swift).
    // The per-image record, generated from PreprocessRecord.Field (Sources/ImagingCUDA/PreprocessRecord.swift).
    \(PreprocessRecord.cDeclaration)

    extern "C" __global__ void halfpipe_preprocess(
        const unsigned char* __restrict__ stage, long long recordsAt, long long tablesAt, long long outputTableAt,
        long long padAt, int count, unsigned char* __restrict__ out, int height, int width, int nhwc, int elementSize)
    {
        const int x = blockIdx.x * blockDim.x + threadIdx.x;
        const int y = blockIdx.y * blockDim.y + threadIdx.y;
        const int n = blockIdx.z;
        if (x >= width || y >= height) return;
        const \(PreprocessRecord.cTypeName)* r = (const \(PreprocessRecord.cTypeName)*)(stage + recordsAt) + n;
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
    """

    /// Threads per block and the grid that covers a batch of `slots` images of `height` x `width`.
    static func geometry(slots: Int, height: Int, width: Int) -> (grid: (Int, Int, Int), block: (Int, Int, Int)) {
        let block = (32, 8, 1)
        let grid = ((width + block.0 - 1) / block.0, (height + block.1 - 1) / block.1, slots)
        return (grid, block)
    }
}
