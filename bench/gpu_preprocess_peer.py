#!/usr/bin/env python3
"""PyTorch on the GPU doing the seed's preprocessing, timed with CUDA events (the peer of
`halfpipe preprocess --device cuda`). Usage: gpu_preprocess_peer.py SEED.npy [BATCH]

SEED.npy: uint8 [N, 900, 1200, 3] RGB. The batch is the seed's images repeated to BATCH (default N).
Letterbox 640, pad 114, bilinear, x/255, float16, NCHW: permute, float, interpolate, scale, half,
paste into a pre-filled batch. Prints one JSON line of milliseconds (medians of 200 runs).
"""
import json, statistics, sys
import numpy as np
import torch
import torch.nn.functional as F

RUNS, WARMUP = 200, 20


def letterbox(x, out, top, h, w):
    y = x.permute(0, 3, 1, 2).float()
    y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
    out[:, :, top:top + h, :w] = (y * (1 / 255.0)).half()
    return out


def timed(fn):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(RUNS + WARMUP):
        start.record()
        fn()
        end.record()
        end.synchronize()
        if i >= WARMUP:
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    seed = np.load(sys.argv[1])
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else seed.shape[0]
    host = np.ascontiguousarray(np.resize(seed, (batch,) + seed.shape[1:]))
    n, H, W, _ = host.shape
    r = min(640 / H, 640 / W)
    h, w = int(round(H * r)), int(round(W * r))
    top = (640 - h) // 2
    pinned = torch.from_numpy(host).pin_memory()
    dev = pinned.cuda()
    out = torch.full((n, 3, 640, 640), 114 / 255.0, dtype=torch.half, device="cuda")
    kernel = timed(lambda: letterbox(dev, out, top, h, w))
    end_to_end = timed(lambda: letterbox(pinned.cuda(non_blocking=True), out, top, h, w))
    copy = timed(lambda: pinned.cuda(non_blocking=True))
    print(json.dumps({"torch": torch.__version__, "batch": n, "torch_kernel_ms": kernel,
                      "torch_end_to_end_ms": end_to_end, "torch_copy_ms": copy, "device": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
