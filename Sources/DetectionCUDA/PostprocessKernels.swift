/// The CUDA C source of the whole-batch postprocessing, compiled at run time by NVRTC. Four
/// launches for the whole batch, each one grid over every image:
///
/// 1. `hp_det_decode`: one thread per (image, cell). Decodes the cell as the CPU's `GridDecoding`
///    does (same float operations, no fused multiply-adds), keeps it above the threshold, and
///    appends it to its image's candidates through an atomic counter. It also writes a sort key:
///    score descending, then cell index, so the order does not depend on the atomics.
/// 2. `hp_det_sort`: one block per image. A bitonic sort of up to `capacity` keys in shared
///    memory, then the boxes in that order.
/// 3. `hp_det_iou_mask`: one block per (image, 64-box row block, 64-box column block). Each
///    thread holds the bits of the later boxes of the same class that its box suppresses
///    (IoU > t ⇔ inter > t·union, as the CPU computes it).
/// 4. `hp_det_select`: one warp per image. The greedy pass over the mask, then each kept box
///    mapped back through its image's placement and clipped to the frame.
///
/// The only copy back to the host is the kept boxes (`[B, maxDetections, 6]`) and their counts.
enum PostprocessKernels {
    static let name = "hp_detection_postprocess"
    /// Candidates per image the GPU keeps (the CPU path's default is 30,000; a frame with more
    /// above the threshold is reported as overflowing).
    static let capacity = 4096
    static let sortThreads = 1024

    static let source = #"""
typedef unsigned long long u64;
#define CAPACITY 4096
#define MAX_LEVELS 4

// Layouts (HeadLayout): 0 yolox (raw grid), 1 yolov5 (decoded rows), 2 yolov8 (channels first),
// 3 boxes [B,N,4] + scores [B,N,C].
struct HeadParams {
    int layout, cells, width, classes;      // width: values per row (or channels for yolov8)
    int levels;
    int strides[MAX_LEVELS], gridWidths[MAX_LEVELS], levelCells[MAX_LEVELS];
    float threshold;
};

// x*y and x+y without contraction into FMAs: the same roundings as the CPU.
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }

extern "C" __global__ void hp_det_decode(const float* __restrict__ head, const float* __restrict__ scores, HeadParams p,
                                         unsigned int* counts, float* candidates, u64* keys) {
    int cell = blockIdx.x * blockDim.x + threadIdx.x;
    int image = blockIdx.y;
    if (cell >= p.cells) return;
    float score, cx = 0, cy = 0, w = 0, h = 0, x1, y1, x2, y2;
    int best = 0;
    if (p.layout == 2) {
        const float* base = head + (u64)image * p.width * p.cells;
        score = __int_as_float(0xff800000);  // -infinity (NVRTC has no math.h)
        for (int c = 0; c < p.classes; c++) {
            float v = base[(u64)(4 + c) * p.cells + cell];
            if (v > score) { score = v; best = c; }
        }
        cx = base[cell]; cy = base[p.cells + cell]; w = base[2 * p.cells + cell]; h = base[3 * p.cells + cell];
    } else if (p.layout == 3) {
        const float* row = scores + ((u64)image * p.cells + cell) * p.classes;
        score = row[0];
        for (int c = 1; c < p.classes; c++) if (row[c] > score) { score = row[c]; best = c; }
    } else {
        const float* row = head + ((u64)image * p.cells + cell) * p.width;
        float cls = row[5];
        for (int c = 1; c < p.classes; c++) if (row[5 + c] > cls) { cls = row[5 + c]; best = c; }
        score = mul(row[4], cls);
        cx = row[0]; cy = row[1]; w = row[2]; h = row[3];
        if (p.layout == 0) {
            int level = 0, first = 0;
            while (level + 1 < p.levels && cell - first >= p.levelCells[level]) { first += p.levelCells[level]; level++; }
            int i = cell - first;
            float s = (float)p.strides[level];
            float gx = (float)(i % p.gridWidths[level]), gy = (float)(i / p.gridWidths[level]);
            cx = mul(add(row[0], gx), s); cy = mul(add(row[1], gy), s);
            w = mul(expf(row[2]), s); h = mul(expf(row[3]), s);
        }
    }
    if (!(score > p.threshold)) return;
    if (p.layout == 3) {
        const float* b = head + ((u64)image * p.cells + cell) * 4;
        x1 = b[0]; y1 = b[1]; x2 = b[2]; y2 = b[3];
    } else {
        float hw = w / 2, hh = h / 2;
        x1 = sub(cx, hw); y1 = sub(cy, hh); x2 = add(cx, hw); y2 = add(cy, hh);
    }
    // Corners that are not finite numbers (x - x is then NaN) are left out, as on the CPU.
    if (sub(x1, x1) != 0.f || sub(y1, y1) != 0.f || sub(x2, x2) != 0.f || sub(y2, y2) != 0.f) return;
    unsigned int slot = atomicAdd(&counts[image], 1u);
    if (slot >= CAPACITY) return;
    float* out = candidates + ((u64)image * CAPACITY + slot) * 6;
    out[0] = x1; out[1] = y1; out[2] = x2; out[3] = y2; out[4] = score; out[5] = (float)best;
    // Scores above a non-negative threshold are positive floats, whose bits order like the values.
    unsigned int bits = __float_as_uint(score);
    keys[(u64)image * CAPACITY + slot] = ((u64)(~bits) << 32) | (unsigned int)cell;
}

// A float16 head (the FP16 engine's output) widened to float before decoding, so the decode reads
// the same values the CPU path reads after its own conversion.
extern "C" __global__ void hp_det_widen(const unsigned short* __restrict__ in, float* __restrict__ out, u64 n) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(in[i]));
    out[i] = f;
}

extern "C" __global__ void hp_det_sort(const unsigned int* counts, const u64* keys, const float* candidates, float* sorted) {
    __shared__ u64 key[CAPACITY];
    __shared__ unsigned short slot[CAPACITY];
    int image = blockIdx.x;
    unsigned int n = min(counts[image], (unsigned int)CAPACITY);
    unsigned int size = 1;
    while (size < n) size <<= 1;
    for (unsigned int i = threadIdx.x; i < size; i += blockDim.x) {
        key[i] = i < n ? keys[(u64)image * CAPACITY + i] : ~0ull;
        slot[i] = (unsigned short)i;
    }
    __syncthreads();
    for (unsigned int k = 2; k <= size; k <<= 1) {
        for (unsigned int j = k >> 1; j > 0; j >>= 1) {
            for (unsigned int i = threadIdx.x; i < size; i += blockDim.x) {
                unsigned int partner = i ^ j;
                if (partner > i) {
                    bool ascending = (i & k) == 0;
                    if ((key[i] > key[partner]) == ascending) {
                        u64 t = key[i]; key[i] = key[partner]; key[partner] = t;
                        unsigned short s = slot[i]; slot[i] = slot[partner]; slot[partner] = s;
                    }
                }
            }
            __syncthreads();
        }
    }
    for (unsigned int i = threadIdx.x; i < n; i += blockDim.x) {
        const float* from = candidates + ((u64)image * CAPACITY + slot[i]) * 6;
        float* to = sorted + ((u64)image * CAPACITY + i) * 6;
        for (int v = 0; v < 6; v++) to[v] = from[v];
    }
}

extern "C" __global__ void hp_det_iou_mask(const unsigned int* counts, const float* sorted, float threshold, int agnostic, u64* mask) {
    int image = blockIdx.z;
    int rowBlock = blockIdx.y, colBlock = blockIdx.x;
    int n = (int)min(counts[image], (unsigned int)CAPACITY);
    if (rowBlock * 64 >= n || colBlock < rowBlock) return;
    __shared__ float cols[64][6];
    int col = colBlock * 64 + threadIdx.x;
    if (col < n) for (int v = 0; v < 6; v++) cols[threadIdx.x][v] = sorted[((u64)image * CAPACITY + col) * 6 + v];
    __syncthreads();
    int row = rowBlock * 64 + threadIdx.x;
    if (row >= n) return;
    const float* b = sorted + ((u64)image * CAPACITY + row) * 6;
    float area = mul(fmaxf(0.f, sub(b[2], b[0])), fmaxf(0.f, sub(b[3], b[1])));
    u64 bits = 0;
    int count = min(64, n - colBlock * 64);
    for (int j = 0; j < count; j++) {
        if (colBlock * 64 + j <= row) continue;
        const float* c = cols[j];
        if (!agnostic && c[5] != b[5]) continue;
        float iw = fmaxf(0.f, sub(fminf(b[2], c[2]), fmaxf(b[0], c[0])));
        float ih = fmaxf(0.f, sub(fminf(b[3], c[3]), fmaxf(b[1], c[1])));
        float inter = mul(iw, ih);
        float other = mul(fmaxf(0.f, sub(c[2], c[0])), fmaxf(0.f, sub(c[3], c[1])));
        float uni = sub(add(area, other), inter);
        if (inter > mul(threshold, uni) && uni > 0) bits |= 1ull << j;
    }
    mask[((u64)image * CAPACITY + row) * (CAPACITY / 64) + colBlock] = bits;
}

// Per image: where its boxes go back to (ImagePlacement) and how (BoxMapping).
struct Placement {
    double padX, padY;          // padLeft - cropLeft, padTop - cropTop
    double scaleX, scaleY;      // divide by these (resized/original, or the letterbox gain twice)
    float width, height;        // the original frame, for clipping
};

extern "C" __global__ void hp_det_select(const unsigned int* counts, const float* sorted, const u64* mask, const Placement* placements,
                                         int images, int maxDetections, unsigned int* keptCounts, float* kept) {
    int image = blockIdx.x;
    if (image >= images) return;
    int lane = threadIdx.x;
    int n = (int)min(counts[image], (unsigned int)CAPACITY);
    __shared__ u64 removed[CAPACITY / 64];
    for (int w = lane; w < CAPACITY / 64; w += 32) removed[w] = 0;
    __syncwarp();
    int taken = 0;
    Placement p = placements[image];
    for (int i = 0; i < n && taken < maxDetections; i++) {
        if ((removed[i / 64] >> (i % 64)) & 1ull) continue;   // every lane reads the same word
        if (lane == 0) {
            const float* b = sorted + ((u64)image * CAPACITY + i) * 6;
            float* out = kept + ((u64)image * maxDetections + taken) * 6;
            float coords[4];
            for (int v = 0; v < 4; v++) {
                double value = (double)b[v];
                double mapped = v % 2 == 0 ? (value - p.padX) / p.scaleX : (value - p.padY) / p.scaleY;
                float limit = v % 2 == 0 ? p.width : p.height;
                coords[v] = fminf(fmaxf((float)mapped, 0.f), limit);
            }
            for (int v = 0; v < 4; v++) out[v] = coords[v];
            out[4] = b[4]; out[5] = b[5];
        }
        taken++;
        const u64* row = mask + ((u64)image * CAPACITY + i) * (CAPACITY / 64);
        for (int w = i / 64 + lane; w < (n + 63) / 64; w += 32) removed[w] |= row[w];
        __syncwarp();
    }
    if (lane == 0) keptCounts[image] = taken;
}
"""#
}
