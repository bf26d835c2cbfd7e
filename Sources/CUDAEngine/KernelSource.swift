/// CUDA C for the engine's generated kernels. Every size and stride is a literal, so the compiler
/// turns the index arithmetic into multiplications by constants; one thread per output element.
/// FP16 is handled as raw 16-bit values converted with PTX, so no CUDA header is needed.
enum KernelSource {
    static let prelude = """
    // HalfPipe engine kernels (Sources/CUDAEngine/KernelSource.swift), generated per plan.
    __device__ __forceinline__ float hp_h2f(unsigned short h) { float f; asm("{cvt.f32.f16 %0, %1;}" : "=f"(f) : "h"(h)); return f; }
    __device__ __forceinline__ unsigned short hp_f2h(float f) { unsigned short h; asm("{cvt.rn.f16.f32 %0, %1;}" : "=h"(h) : "f"(f)); return h; }

    """

    /// The C type a tensor of `dtype` is stored as, and how to read it into a float and write one.
    static func storage(_ isHalf: Bool) -> (type: String, load: (String) -> String, store: (String) -> String) {
        isHalf ? ("unsigned short", { "hp_h2f(\($0))" }, { "hp_f2h(\($0))" }) : ("float", { $0 }, { $0 })
    }

    /// Code computing the logical coordinates `i0…` of element `idx` of `shape` (row-major), then
    /// the offset `name` from `strides`.
    static func coordinates(_ shape: [Int]) -> String {
        var lines: [String] = ["long long rest = idx;"]
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if axis == 0 { lines.append("const long long i0 = rest;") } else {
                lines.append("const long long i\(axis) = rest % \(shape[axis]); rest /= \(shape[axis]);")
            }
        }
        return lines.joined(separator: "\n    ")
    }

    static func offset(_ strides: [Int], base: Int = 0) -> String {
        let terms = strides.enumerated().compactMap { axis, s in s == 0 ? nil : (s == 1 ? "i\(axis)" : "i\(axis) * \(s)LL") }
        return ([base == 0 ? nil : "\(base)LL"].compactMap { $0 } + terms).joined(separator: " + ").nonEmpty ?? "0LL"
    }

    /// Copies (converting the type) over `shape`: output element at `outStrides`, source at
    /// `sourceStrides` (0 repeats along an axis). Layout changes, Transpose, Concat parts, Slice and
    /// the edges are all this. With `zeroAxis`, coordinates at or past `zeroFrom` on that axis are
    /// written as 0 and read nothing (the padded channels).
    static func copy(function: String, shape: [Int], outStrides: [Int], outBase: Int = 0, outHalf: Bool, sourceStrides: [Int], sourceBase: Int = 0,
                     sourceHalf: Bool, zeroAxis: Int? = nil, zeroFrom: Int = 0) -> String {
        let o = storage(outHalf), s = storage(sourceHalf)
        let total = shape.reduce(1, *)
        let value = zeroAxis.map { "i\($0) >= \(zeroFrom) ? 0.0f : \(s.load("src[\(offset(sourceStrides, base: sourceBase))]"))" }
            ?? s.load("src[\(offset(sourceStrides, base: sourceBase))]")
        return """
        extern "C" __global__ void \(function)(\(o.type)* __restrict__ out, const \(s.type)* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(total)LL) return;
            \(coordinates(shape))
            out[\(offset(outStrides, base: outBase))] = \(o.store(value));
        }

        """
    }

    /// A generated kernel and the threads it is launched with.
    struct Generated: Equatable {
        let source: String
        let threads: Int
    }

    /// Whether `strides` lay `shape` out densely (every storage element belongs to exactly one
    /// coordinate: no padding, no broadcast), in any axis order.
    static func isDense(_ shape: [Int], _ strides: [Int]) -> Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).filter({ $0.0 > 1 }).sorted(by: { $0.1 < $1.1 }) {
            guard stride == expected else { return false }
            expected *= size
        }
        return true
    }

    /// `copy`, eight FP16 elements per thread with 16-byte loads and stores where the layouts
    /// allow it: both sides FP16, one axis contiguous on both with an extent divisible by 8, every
    /// other stride and both bases multiples of 8, no padded channels to zero. Concat parts, Slices
    /// and Transposes between NHWC tensors of 8k channels are this case; scalar copies ran at a
    /// tenth of the memory bandwidth on an H200.
    static func copyKernel(function: String, shape: [Int], outStrides: [Int], outBase: Int = 0, outHalf: Bool, sourceStrides: [Int], sourceBase: Int = 0,
                           sourceHalf: Bool, zeroAxis: Int? = nil, zeroFrom: Int = 0) -> Generated {
        let total = shape.reduce(1, *)
        if total > 0, outHalf, sourceHalf, zeroAxis == nil, outBase % 8 == 0, sourceBase % 8 == 0,
           let axis = shape.indices.first(where: { outStrides[$0] == 1 && sourceStrides[$0] == 1 && shape[$0] % 8 == 0 }),
           shape.indices.allSatisfy({ $0 == axis || shape[$0] == 1 || (outStrides[$0] % 8 == 0 && sourceStrides[$0] % 8 == 0) }) {
            var vectorShape = shape
            vectorShape[axis] /= 8
            let scale = { (strides: [Int]) in strides.enumerated().map { $0.offset == axis ? 1 : $0.element / 8 } }
            let source = """
            extern "C" __global__ void \(function)(uint4* __restrict__ out, const uint4* __restrict__ src) {
                const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
                if (idx >= \(total / 8)LL) return;
                \(coordinates(vectorShape))
                out[\(offset(scale(outStrides), base: outBase / 8))] = src[\(offset(scale(sourceStrides), base: sourceBase / 8))];
            }

            """
            return Generated(source: source, threads: total / 8)
        }
        return Generated(source: copy(function: function, shape: shape, outStrides: outStrides, outBase: outBase, outHalf: outHalf, sourceStrides: sourceStrides,
                                      sourceBase: sourceBase, sourceHalf: sourceHalf, zeroAxis: zeroAxis, zeroFrom: zeroFrom),
                         threads: total)
    }

    /// The input edge into NHWC with 8 stored channels (the padded image of a CNN): one thread per
    /// pixel reads its channels from the NCHW planes and writes all 8 as one 16-byte store. The
    /// generic copy writes one 2-byte element per thread and runs at a third of the bandwidth.
    static func imageToNHWC8(function: String, batch: Int, channels: Int, height: Int, width: Int, sourceHalf: Bool) -> String {
        let s = storage(sourceHalf)
        let plane = height * width
        let loads = (0..<8).map { c in c < channels ? "hp_f2h(\(s.load("p[\(c * plane)LL]")))" : "0" }
        return """
        extern "C" __global__ void \(function)(uint4* __restrict__ out, const \(s.type)* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(batch * plane)LL) return;
            const long long n = idx / \(plane), pixel = idx % \(plane);
            const \(s.type)* p = src + n * \(channels * plane)LL + pixel;
            const unsigned short h[8] = {\(loads.joined(separator: ", "))};
            uint4 v;
            v.x = h[0] | ((unsigned)h[1] << 16); v.y = h[2] | ((unsigned)h[3] << 16);
            v.z = h[4] | ((unsigned)h[5] << 16); v.w = h[6] | ((unsigned)h[7] << 16);
            out[idx] = v;
        }

        """
    }

    /// NHWC FP16 with `channels` per pixel into NHWC FP16 with `stored` (a multiple of 8) per
    /// pixel, zeros past the real ones: one thread per pixel, its channels read as halves and
    /// written as `stored / 8` 16-byte vectors. The generic copy (one element per thread, with
    /// coordinate arithmetic) took 0.39 ms for YOLOX's 12 → 16 channels at batch 64 on an H200.
    static func padChannels(function: String, pixels: Int, channels: Int, stored: Int) -> Generated {
        let vectors = stored / 8
        let source = """
        extern "C" __global__ void \(function)(uint4* __restrict__ out, const unsigned short* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(pixels)LL) return;
            const unsigned short* p = src + idx * \(channels)LL;
            uint4 o[\(vectors)];
            unsigned short* h = reinterpret_cast<unsigned short*>(o);
            #pragma unroll
            for (int c = 0; c < \(stored); c++) h[c] = c < \(channels) ? p[c] : (unsigned short)0;
            #pragma unroll
            for (int v = 0; v < \(vectors); v++) out[idx * \(vectors)LL + v] = o[v];
        }

        """
        return Generated(source: source, threads: pixels)
    }

    /// One input of an elementwise kernel: its storage strides per output axis (0 where it is
    /// broadcast), whether it is FP16, or a literal for a scalar constant.
    enum Operand {
        case tensor(strides: [Int], half: Bool)
        case literal(Float)
    }

    /// A fused chain of elementwise operations: `body` assigns `v0…` (the operands, loaded) and
    /// then temporaries, the last of which (`result`) is stored.
    static func elementwise(function: String, shape: [Int], outStrides: [Int], operands: [Operand], body: [String], result: String) -> String {
        var parameters: [String] = ["unsigned short* __restrict__ out"]
        var loads: [String] = []
        var pointer = 0
        for (k, operand) in operands.enumerated() {
            switch operand {
            case .tensor(let strides, let half):
                let s = storage(half)
                parameters.append("const \(s.type)* __restrict__ p\(pointer)")
                loads.append("const float v\(k) = \(s.load("p\(pointer)[\(offset(strides))]"));")
                pointer += 1
            case .literal(let value):
                loads.append("const float v\(k) = \(literal(value));")
            }
        }
        let total = shape.reduce(1, *)
        return """
        extern "C" __global__ void \(function)(\(parameters.joined(separator: ", "))) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(total)LL) return;
            \(coordinates(shape))
            \(loads.joined(separator: "\n    "))
            \(body.joined(separator: "\n    "))
            out[\(offset(outStrides))] = hp_f2h(\(result));
        }

        """
    }

    /// `elementwise`, eight elements per thread with 16-byte loads and stores, where every tensor
    /// operand is FP16 and laid out exactly as the output, densely (no padded channels, which must
    /// stay zero, and no broadcast), so one flat index serves all of them. `vectorizable` is the
    /// caller's word that every operand starts 16-byte aligned (the arena and the weights are laid out at 256-byte offsets). SiLU over a
    /// 64×24×208×208 activation took 673 µs one element per thread on an H200.
    static func elementwiseKernel(function: String, shape: [Int], outStrides: [Int], operands: [Operand], body: [String], result: String,
                                  vectorizable: Bool) -> Generated {
        let total = shape.reduce(1, *)
        let sameLayout = operands.allSatisfy { if case .tensor(let strides, let half) = $0 { half && strides == outStrides } else { true } }
        guard vectorizable, sameLayout, total > 0, total % 8 == 0, isDense(shape, outStrides) else {
            return Generated(source: elementwise(function: function, shape: shape, outStrides: outStrides, operands: operands, body: body, result: result),
                             threads: total)
        }
        var parameters: [String] = ["uint4* __restrict__ out"]
        var vectors: [String] = [], loads: [String] = []
        var pointer = 0
        for (k, operand) in operands.enumerated() {
            switch operand {
            case .tensor:
                parameters.append("const uint4* __restrict__ p\(pointer)")
                vectors.append("const uint4 a\(pointer) = p\(pointer)[idx]; const unsigned short* h\(pointer) = reinterpret_cast<const unsigned short*>(&a\(pointer));")
                loads.append("const float v\(k) = hp_h2f(h\(pointer)[j]);")
                pointer += 1
            case .literal(let value):
                loads.append("const float v\(k) = \(literal(value));")
            }
        }
        let source = """
        extern "C" __global__ void \(function)(\(parameters.joined(separator: ", "))) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(total / 8)LL) return;
            \(vectors.joined(separator: "\n    "))
            uint4 o; unsigned short* r = reinterpret_cast<unsigned short*>(&o);
            #pragma unroll
            for (int j = 0; j < 8; j++) {
                \(loads.joined(separator: "\n        "))
                \(body.joined(separator: "\n        "))
                r[j] = hp_f2h(\(result));
            }
            out[idx] = o;
        }

        """
        return Generated(source: source, threads: total / 8)
    }

    /// A float literal C reads back exactly (hexadecimal), with infinities and NaN spelled out.
    static func literal(_ value: Float) -> String {
        if value.isNaN { return "__int_as_float(0x7fc00000)" }
        if value.isInfinite { return value > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)" }
        return "__int_as_float(\(Int32(bitPattern: value.bitPattern)))"
    }

    /// y = (x − mean) / sqrt(var + ε) · scale + bias over rows of `length`, one warp per row: the
    /// mean first, then the variance around it (two passes over the row: no cancellation), in FP32.
    static func layerNorm(function: String, rows: Int, length: Int, epsilon: Float) -> String {
        """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ y, const unsigned short* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ bias) {
            const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
            const int lane = threadIdx.x & 31;
            if (row >= \(rows)LL) return;
            const unsigned short* in = x + row * \(length)LL;
            unsigned short* out = y + row * \(length)LL;
            float sum = 0.0f;
            for (int j = lane; j < \(length); j += 32) sum += hp_h2f(in[j]);
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float mean = sum * (1.0f / \(length).0f);
            float squares = 0.0f;
            for (int j = lane; j < \(length); j += 32) { const float d = hp_h2f(in[j]) - mean; squares += d * d; }
            for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
            const float inverse = rsqrtf(squares * (1.0f / \(length).0f) + \(literal(epsilon)));
            for (int j = lane; j < \(length); j += 32) out[j] = hp_f2h((hp_h2f(in[j]) - mean) * inverse * scale[j] + bias[j]);
        }

        """
    }

    /// Max or average pooling over NHWC: one thread per output element. `pads` are top, left
    /// (bottom and right only change the output size).
    static func pool(function: String, input: PlannedTensor, output: PlannedTensor, kernel: (Int, Int), strides: (Int, Int), pads: (Int, Int),
                     dilations: (Int, Int), isMax: Bool, countIncludePad: Bool) -> String {
        let (h, w) = (input.shape[2], input.shape[3])
        let inS = input.strides, outS = output.strides
        let accumulate = isMax ? "acc = fmaxf(acc, v);" : "acc += v;"
        let finish = isMax ? "acc" : (countIncludePad ? "acc / \(literal(Float(kernel.0 * kernel.1)))" : "acc / (float)max(count, 1)")
        return """
        \(outputPixel(function: function, output: output))
            float acc = \(isMax ? "-__int_as_float(0x7f800000)" : "0.0f"); int count = 0;  // taps inside the image (the divisor without padding)
            for (int ky = 0; ky < \(kernel.0); ky++) {
                const int iy = y * \(strides.0) - \(pads.0) + ky * \(dilations.0);
                if (iy < 0 || iy >= \(h)) continue;
                for (int kx = 0; kx < \(kernel.1); kx++) {
                    const int ix = x * \(strides.1) - \(pads.1) + kx * \(dilations.1);
                    if (ix < 0 || ix >= \(w)) continue;
                    const float v = hp_h2f(src[b * \(inS[0])LL + (long long)iy * \(inS[2]) + (long long)ix * \(inS[3]) + ch]);
                    \(accumulate) count++;
                }
            }
            out[b * \(outS[0])LL + (long long)y * \(outS[2]) + (long long)x * \(outS[3]) + ch] = hp_f2h(\(finish));
        }

        """
    }

    /// The opening of a kernel with one thread per element of an NHWC `output`: image `b`, row
    /// `y`, column `x`, channel `ch` (neighbouring threads on neighbouring channels).
    static func outputPixel(function: String, output: PlannedTensor) -> String {
        let (n, c, oh, ow) = (output.shape[0], output.shape[1], output.shape[2], output.shape[3])
        return """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ out, const unsigned short* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(n * c * oh * ow)LL) return;
            const int ch = (int)(idx % \(c)); long long rest = idx / \(c);
            const int x = (int)(rest % \(ow)); rest /= \(ow);
            const int y = (int)(rest % \(oh)); const long long b = rest / \(oh);
        """
    }

    /// The mean over H and W of an NHWC tensor (GlobalAveragePool, ReduceMean over the spatial
    /// axes), in float: one thread per (image, channel), neighbouring threads reading neighbouring
    /// channels.
    static func globalAverage(function: String, input: PlannedTensor, output: PlannedTensor) -> String {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let inS = input.strides
        return """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ out, const unsigned short* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(n * c)LL) return;
            const int ch = (int)(idx % \(c)); const long long b = idx / \(c);
            const unsigned short* p = src + b * \(inS[0])LL + ch;
            float acc = 0.0f;
            for (int k = 0; k < \(h * w); k++) acc += hp_h2f(p[(long long)k * \(inS[3])]);
            out[b * \(c)LL + ch] = hp_f2h(acc * \(literal(1 / Float(h * w))));
        }

        """
    }

    /// Softmax over the innermost stored axis (the last axis of a row-major tensor, or the
    /// channels of an NHWC one): one thread per row, max-subtracted, in float.
    static func softmax(function: String, rows: Int, length: Int, logarithm: Bool) -> String {
        """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ out, const unsigned short* __restrict__ src) {
            const long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (row >= \(rows)LL) return;
            const unsigned short* p = src + row * \(length)LL;
            unsigned short* q = out + row * \(length)LL;
            float m = -__int_as_float(0x7f800000);
            for (int k = 0; k < \(length); k++) m = fmaxf(m, hp_h2f(p[k]));
            float sum = 0.0f;
            for (int k = 0; k < \(length); k++) sum += __expf(hp_h2f(p[k]) - m);
            \(logarithm ? "const float l = __logf(sum);" : "const float r = 1.0f / sum;")
            for (int k = 0; k < \(length); k++) q[k] = hp_f2h(\(logarithm ? "hp_h2f(p[k]) - m - l" : "__expf(hp_h2f(p[k]) - m) * r"));
        }

        """
    }

    /// Local response normalisation across channels (AlexNet, GoogLeNet) over unpadded NHWC data:
    /// x / (bias + alpha / size · Σ x²)^beta over the channel window, in float.
    static func lrn(function: String, elements: Int, channels: Int, size: Int, alpha: Float, beta: Float, bias: Float) -> String {
        let before = (size - 1) / 2, after = size - 1 - before
        return """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ out, const unsigned short* __restrict__ src) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(elements)LL) return;
            const int c = (int)(idx % \(channels));
            const long long base = idx - c;
            float sum = 0.0f;
            for (int k = max(c - \(before), 0); k <= min(c + \(after), \(channels - 1)); k++) { const float v = hp_h2f(src[base + k]); sum += v * v; }
            out[idx] = hp_f2h(hp_h2f(src[idx]) / powf(\(literal(bias)) + \(literal(alpha / Float(size))) * sum, \(literal(beta))));
        }

        """
    }

    /// What follows a plain cuDNN convolution: y = act(y + bias [+ z]) in place over NHWC (or
    /// row-major) data whose innermost axis is the channels; `activation` is an expression of `v`.
    static func epilogue(function: String, elements: Int, channels: Int, residual: Bool, activation: String?) -> String {
        let value = "hp_h2f(y[idx]) + hp_h2f(bias[idx % \(channels)])" + (residual ? " + hp_h2f(z[idx])" : "")
        return """
        extern "C" __global__ void \(function)(unsigned short* __restrict__ y, const unsigned short* __restrict__ bias\(residual ? ", const unsigned short* __restrict__ z" : "")) {
            const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (idx >= \(elements)LL) return;
            const float v = \(value);
            y[idx] = hp_f2h(\(activation ?? "v"));
        }

        """
    }

    /// Nearest-neighbour resizing of an NHWC tensor by any scale (ONNX's asymmetric coordinates,
    /// floor rounding: what Upsample and most exported Resize nodes ask for).
    static func resizeNearest(function: String, input: PlannedTensor, output: PlannedTensor) -> String {
        let (oh, ow) = (output.shape[2], output.shape[3])
        let inS = input.strides, outS = output.strides
        let (h, w) = (input.shape[2], input.shape[3])
        return """
        \(outputPixel(function: function, output: output))
            const int iy = min((int)((long long)y * \(h) / \(oh)), \(h - 1)), ix = min((int)((long long)x * \(w) / \(ow)), \(w - 1));
            out[b * \(outS[0])LL + (long long)y * \(outS[2]) + (long long)x * \(outS[3]) + ch] = src[b * \(inS[0])LL + (long long)iy * \(inS[2]) + (long long)ix * \(inS[3]) + ch];
        }

        """
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
