"""PyTorch on the GPU machine, the peer of HalfPipe's CUDA engine (`bench/gpu.sh`, step 5).

  engine_peer.py export DIR      torchvision ResNet-50 (seeded random weights: the machine has no
                                 internet) to DIR/resnet50.onnx with a symbolic batch, and its
                                 state_dict to DIR/resnet50.pt, so both run the same weights.
  engine_peer.py time DIR        images/s of the same model in FP16 on the GPU: eager channels_last
                                 with cudnn.benchmark at batch 128 and 1, torch.compile at 128,
                                 torch.compile(mode="reduce-overhead") at 1. One JSON line.

Timing: CUDA events around N iterations after warm-up, inputs already on the device (as ours with
--bind), the best of 3 rounds."""
import json, sys, time
import torch, torchvision


def model(directory):
    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None).eval()
    # Trained-like statistics so activations have realistic ranges (random init leaves BN at 0/1).
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) * 0.5 + 0.5)
            mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) * 0.5 + 0.5)
            mod.bias.data.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
    return m


def export(directory):
    m = model(directory)
    torch.save(m.state_dict(), f"{directory}/resnet50.pt")
    x = torch.randn(2, 3, 224, 224)
    path = f"{directory}/resnet50.onnx"
    try:
        torch.onnx.export(m, x, path, dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    except Exception as e:  # the TorchScript exporter may be gone: the dynamo one
        print(f"legacy export failed ({e}); dynamo export", file=sys.stderr)
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(m, (x,), path, dynamo=True, input_names=["input"], output_names=["logits"],
                          dynamic_shapes={"x": {0: batch}}, external_data=False)
    print(path)


def rate(fn, x, iterations):
    for _ in range(5):
        fn(x)
    torch.cuda.synchronize()
    best = 0.0
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iterations):
            fn(x)
        end.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(end) / iterations
        best = max(best, x.shape[0] * 1000.0 / ms)
    return best, x.shape[0] * 1000.0 / best


def timing(directory):
    torch.backends.cudnn.benchmark = True
    m = model(directory)
    m.load_state_dict(torch.load(f"{directory}/resnet50.pt"))
    m = m.half().cuda().to(memory_format=torch.channels_last).eval()
    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name()}
    with torch.inference_mode():
        for b in (128, 1):
            x = torch.randn(b, 3, 224, 224, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
            out[f"eager_b{b}_img_s"], out[f"eager_b{b}_ms"] = rate(m, x, 50 if b == 128 else 200)
        t0 = time.time()
        compiled = torch.compile(m)
        x = torch.randn(128, 3, 224, 224, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
        out["compile_b128_img_s"], out["compile_b128_ms"] = rate(compiled, x, 50)
        out["compile_seconds"] = time.time() - t0
        graphs = torch.compile(m, mode="reduce-overhead")
        x = torch.randn(1, 3, 224, 224, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
        out["reduce_overhead_b1_img_s"], out["reduce_overhead_b1_ms"] = rate(graphs, x, 300)
    print(json.dumps(out))


if __name__ == "__main__":
    {"export": export, "time": timing}[sys.argv[1]](sys.argv[2])
