#!/usr/bin/env bash
# Step 5 of bench/gpu.sh (the GPU machine): HalfPipe's FP16 CUDA engine against ONNX Runtime on the
# CPU (correctness) and PyTorch on the same GPU (speed). Sourced by bench/gpu.sh with $bin and $out
# set; writes $out/gpu-engine.json. GPU_ENGINE_ONLY=1 runs only this step.
d=/tmp/halfpipe-engine
mkdir -p "$d"
export HALFPIPE_ENGINE_CACHE=$d/engine-cache
rm -rf "$d/engine-cache"
python3 bench/engine_peer.py export "$d" > /dev/null 2> "$d/export.txt" || { echo "engine: export failed"; cat "$d/export.txt"; }
r50=$d/resnet50.onnx
echo "== plan (ResNet-50, batch 128)"
$bin plan $r50 --device cuda --shape input=128x3x224x224 | tail -3

# Start-up: a cold run (empty kernel and algorithm caches), then a warm one.
for start in cold warm; do
  [ $start = cold ] && rm -rf "$d/engine-cache" "$HALFPIPE_KERNEL_CACHE"
  t0=$(date +%s.%N)
  $bin run $r50 --device cuda --random --shape input=1x3x224x224 > /dev/null 2> "$d/run-$start.txt" || cat "$d/run-$start.txt"
  echo "$start start: $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 3))") s" | tee "$d/start-$start.txt"
done
# Where a warm start goes (HALFPIPE_ENGINE_PROFILE=1 prints the set-up by part).
HALFPIPE_ENGINE_PROFILE=1 $bin run $r50 --device cuda --random --shape input=1x3x224x224 2>&1 > /dev/null | grep "engine set-up" | tee "$d/setup-warm.txt"

echo "== speed"
$bin bench $r50 --device cuda --batch 128 --binding --warmup 10 --runs 100 --json > $d/b128.json 2> $d/b128.txt || cat $d/b128.txt
$bin bench $r50 --device cuda --batch 1 --binding --warmup 50 --runs 500 --json > $d/b1.json 2> $d/b1.txt || cat $d/b1.txt
$bin bench $r50 --device cuda --batch 128 --warmup 5 --runs 30 --json > $d/b128-stages.json 2> $d/b128s.txt || cat $d/b128s.txt
cat $d/b128.json $d/b1.json $d/b128-stages.json

echo "== correctness against ONNX Runtime on the CPU (relative L2 of every output)"
pics=(.device/images/* .device/seed-0.png .device/seed-1.png .device/seed-2.png)
rm -rf $d/p1 $d/p32 && mkdir -p $d/p1 $d/p32
cp "${pics[0]}" $d/p1/
for i in $(seq 0 31); do f=${pics[i % ${#pics[@]}]}; cp "$f" $d/p32/$(printf %02d $i)-$(basename "$f"); done
checks=$d/checks.txt; : > $checks
# The OCR models on the text pictures: one page, and 32 (the two pictures repeated).
rm -rf $d/t1 $d/t32 && mkdir -p $d/t1 $d/t32 && cp .device/text/page.png $d/t1/
for i in $(seq 0 31); do f=$(ls .device/text/* | sed -n "$((i % 2 + 1))p"); cp "$f" $d/t32/$(printf %02d $i)-$(basename "$f"); done
check() {  # name model preset batch [text]
  local imgs=$d/p1; [ "$4" = 32 ] && imgs=$d/p32
  [ "${5:-}" = text ] && { imgs=$d/t1; [ "$4" = 32 ] && imgs=$d/t32; }
  local feed=(--images $imgs --image-preset "$3")
  # Token models: an .npz of real sentences (bench/text_feeds.py), not pictures.
  case "$3" in npz:*) feed=(--inputs "${3#npz:}");; esac
  local json; json=$($bin compare "$2" "$2" --device cuda --reference-device cpu "${feed[@]}" --json 2> $d/err.txt)
  local rc=$?
  python3 - "$1" "$4" "$rc" "$json" "$(tail -c 600 $d/err.txt)" "${5:-pictures}" >> $checks <<'PY'
import json, sys
name, batch, rc, text, err, images = sys.argv[1:7]
worst = None
try:
    def walk(v):
        global worst
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "relativeL2" and isinstance(x, (int, float)): worst = x if worst is None else max(worst, x)
                walk(x)
        elif isinstance(v, list):
            for x in v: walk(x)
    walk(json.loads(text))
except Exception:
    pass
print(json.dumps({"model": name, "batch": int(batch), "images": images, "rel_l2": worst, "exit": int(rc), "error": None if worst is not None else err.strip()[-300:]}))
PY
}
check resnet50 $r50 imagenet224 1
check resnet50 $r50 imagenet224 32
[ -f .device/models/cls.onnx ] && { check cls .device/models/cls.onnx paddleocr-cls 1; check cls .device/models/cls.onnx paddleocr-cls 32; }
for m in .device/models/orientation.onnx; do [ -f $m ] && { check orientation $m imagenet224 1; check orientation $m imagenet224 32; }; done
if [ -f .device/models/det-fp16.onnx ]; then
  check yolox-det .device/models/det-fp16.onnx yolox416 1
  # Batch 32: its graph fixes batch 1; the same graph with a symbolic batch.
  python3 scripts/batch-symbolic.py .device/models/det-fp16.onnx $d/det-b.onnx && check yolox-det $d/det-b.onnx yolox416 32
fi
# PP-OCRv4 (FP16 copies, for the carry): the recognizer's ReduceMeans over the last axis run on ONNX
# Runtime (hybrid); the detector runs whole on the GPU (ConvTranspose as cuDNN's backward-data pass).
[ -f .device/models/ocr-det-fp16.onnx ] && { $bin plan .device/models/ocr-det-fp16.onnx --shape x=1x3x640x640 | head -1; check ppocr-det .device/models/ocr-det-fp16.onnx paddleocr-det 1 text; check ppocr-det .device/models/ocr-det-fp16.onnx paddleocr-det 32 text; }
[ -f .device/models/ocr-rec-fp16.onnx ] && { $bin plan .device/models/ocr-rec-fp16.onnx --shape x=1x3x48x320 | head -1; check ppocr-rec .device/models/ocr-rec-fp16.onnx paddleocr-rec 1 text; check ppocr-rec .device/models/ocr-rec-fp16.onnx paddleocr-rec 32 text; }
# Model-zoo topologies with full-size random weights, made here from the light models.
if [ -d .device/light ]; then
  mkdir -p .cache/material/onnx-tests && rm -rf .cache/material/onnx-tests/light && cp -r .device/light .cache/material/onnx-tests/light
  python3 scripts/make-light-models.py $d/zoo > /dev/null 2>&1
  for m in resnet50 densenet121 inception_v1 inception_v2 squeezenet shufflenet vgg19 bvlc_alexnet zfnet512; do
    [ -f $d/zoo/light_$m.onnx ] || continue
    # Random weights rescaled to keep every layer's output near unit scale, as trained ones do
    # (scripts/normalize-activations.py): unscaled, shufflenet reaches 2.4e6, past FP16's range,
    # and resnet50's softmax is one-hot whatever the input.
    python3 scripts/normalize-activations.py $d/zoo/light_$m.onnx $d/zoo/n_$m.onnx 2> /dev/null || continue
    check $m $d/zoo/n_$m.onnx imagenet224 1
    # Batch 32: the same graph with a symbolic batch (scripts/batch-symbolic.py).
    python3 scripts/batch-symbolic.py $d/zoo/n_$m.onnx $d/zoo/b_$m.onnx && check $m $d/zoo/b_$m.onnx imagenet224 32
  done
fi
# The sentence transformer (MiniLM, int8 weights dequantized in its graph): one sentence, and 32
# padded ones (the masked softmax).
if [ -f .device/models/minilm.onnx ]; then
  python3 bench/text_feeds.py $d/text
  $bin plan .device/models/minilm.onnx --device cuda --shape input_ids=32x16 --shape attention_mask=32x16 --shape token_type_ids=32x16 | head -1
  check minilm .device/models/minilm.onnx npz:$d/text/minilm-b1.npz 1 sentences
  check minilm .device/models/minilm.onnx npz:$d/text/minilm-b32.npz 32 sentences
fi

echo "== the real detectors: images/s, tensor-core and memory-bandwidth fractions"
# H200 SXM: 989.4 TFLOPS dense FP16 tensor-core peak, 4.8 TB/s HBM3e (NVIDIA's figures). The traffic
# is the plan's: each step's inputs, weights and output once (caches make the real traffic lower).
: > $d/detectors.txt
measure() {  # name model input batch HxW
  $bin bench "$2" --device cuda --batch $4 --shape "$3=$4x3x$5" --binding --warmup 20 --runs 200 --json > $d/m.json 2> $d/m.txt || { tail -3 $d/m.txt; return; }
  $bin plan "$2" --device cuda --shape "$3=$4x3x$5" --json > $d/mp.json 2>> $d/m.txt || return
  python3 - "$1" "$4" $d/m.json $d/mp.json >> $d/detectors.txt <<'PY'
import json, sys
name, batch, run, plan = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
ms = run["p50Ms"]
print(json.dumps({"model": name, "batch": batch, "ms": round(ms, 4), "images_s": round(batch * 1000 / ms, 1),
                  "tensor_core_fraction": round(2 * plan["multiplyAdds"] / (ms / 1000) / 989.4e12, 4),
                  "bandwidth_fraction": round(plan["trafficBytes"] / (ms / 1000) / 4.8e12, 4),
                  "gflop": round(2 * plan["multiplyAdds"] / 1e9, 2), "traffic_mb": round(plan["trafficBytes"] / 1e6, 1)}))
PY
}
if [ -f .device/models/det-fp16.onnx ]; then
  measure yolox-det .device/models/det-fp16.onnx images 1 416x416
  [ -f $d/det-b.onnx ] && measure yolox-det $d/det-b.onnx images 32 416x416
fi
[ -f .device/models/ocr-det-fp16.onnx ] && { measure ppocr-det .device/models/ocr-det-fp16.onnx x 1 640x640; measure ppocr-det .device/models/ocr-det-fp16.onnx x 8 640x640; }
cat $d/detectors.txt
# The sentence transformer, 32 sentences: the engine (hybrid: lookups and mask logic on ONNX Runtime)
# against ONNX Runtime on this machine's CPU cores.
if [ -f .device/models/minilm.onnx ]; then
  for dev in cuda cpu; do
    $bin bench .device/models/minilm.onnx --device $dev --inputs $d/text/minilm-b32.npz --warmup 10 --runs 100 --json > $d/minilm-$dev.json 2> $d/m.txt || tail -3 $d/m.txt
  done
  cat $d/minilm-cuda.json $d/minilm-cpu.json
fi

echo "== bad input: a plan larger than the GPU's memory"
python3 - $d/huge.onnx <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
# An 8 MB input, a 1x1 transposed convolution with stride 64: 137 GB of FP16 output.
w = numpy_helper.from_array(np.ones((8, 64, 1, 1), np.float32), "w")
node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[64, 64], kernel_shape=[1, 1])
graph = helper.make_graph([node], "huge", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 512, 512])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
PY
$bin run $d/huge.onnx --device cuda --random > $d/oom.txt 2>&1; oom=$?
echo "exit $oom: $(tail -c 300 $d/oom.txt)"
echo "{\"exit\": $oom}" > $d/oom.json
cat $checks

echo "== PyTorch on the same GPU"
python3 bench/engine_peer.py time $d > $d/torch.json 2> $d/torch.txt || tail -20 $d/torch.txt
cat $d/torch.json
python3 - "$d" "$out/gpu-engine.json" <<'PY'
import json, sys
d, dest = sys.argv[1:3]
def load(name):
    try: return json.load(open(f"{d}/{name}"))
    except Exception: return {}
b128, b1, torch = load("b128.json"), load("b1.json"), load("torch.json")
checks = [json.loads(l) for l in open(f"{d}/checks.txt") if l.strip()]
ours128 = 128 * 1000 / b128["p50Ms"] if b128 else None
good = [c for c in checks if c["rel_l2"] is not None]
result = {"bench": "gpu-engine",
          "resnet50_b128_vs_torch_compile": round(ours128 / torch["compile_b128_img_s"], 3) if ours128 and torch.get("compile_b128_img_s") else None,
          "resnet50_b128_vs_torch_eager": round(ours128 / torch["eager_b128_img_s"], 3) if ours128 and torch.get("eager_b128_img_s") else None,
          "resnet50_b1_ms": round(b1["p50Ms"], 4) if b1 else None,
          "max_rel_l2": max((c["rel_l2"] for c in good), default=None),
          "models_checked": len(good), "checks_failed": len(checks) - len(good),
          "resnet50_b128_img_s": round(ours128, 1) if ours128 else None,
          "torch_reduce_overhead_b1_ms": torch.get("reduce_overhead_b1_ms"),
          "minilm_b32_ms": {k: load(f"minilm-{k}.json").get("p50Ms") for k in ("cuda", "cpu")},
          "out_of_memory_exit": load("oom.json").get("exit"),
          "detectors": [json.loads(l) for l in open(f"{d}/detectors.txt") if l.strip()] if __import__("os").path.exists(f"{d}/detectors.txt") else []}
open(dest, "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
