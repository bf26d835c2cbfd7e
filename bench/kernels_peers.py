"""The Python peers of `make bench-kernels`: numpy's float32→float16 cast and memcpy, and Python
onnx load/save of the same model. Prints one JSON line of median milliseconds."""
import json, os, sys, time
import numpy as np
import onnx


def median_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[len(times) // 2]


elements, model_path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
src = (rng.standard_normal(elements, dtype=np.float32) * 1000).astype(np.float32)
half = np.empty(elements, np.float16)
copy = np.empty_like(src)
astype_ms = median_ms(lambda: src.astype(np.float16), runs=5)
copyto_ms = median_ms(lambda: np.copyto(copy, src), runs=15)
load_ms = median_ms(lambda: onnx.load(model_path), runs=7, warmup=1)
model = onnx.load(model_path)
out = model_path + ".python-saved.onnx"
save_ms = median_ms(lambda: onnx.save(model, out), runs=7, warmup=1)
os.unlink(out)
print(json.dumps({"numpy_astype_f16_ms": astype_ms, "numpy_copyto_f32_ms": copyto_ms,
                  "onnx_load_ms": load_ms, "onnx_save_ms": save_ms}))
