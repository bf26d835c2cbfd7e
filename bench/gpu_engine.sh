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
  local json; json=$($bin compare "$2" "$2" --device cuda --reference-device cpu --images $imgs --image-preset "$3" --json 2> $d/err.txt)
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
[ -f .device/models/det-fp16.onnx ] && check yolox-det .device/models/det-fp16.onnx yolox416 1
# PP-OCRv4 (FP16 copies, for the carry): the detector's ConvTranspose runs on ONNX Runtime (hybrid).
[ -f .device/models/ocr-det-fp16.onnx ] && { $bin plan .device/models/ocr-det-fp16.onnx --shape x=1x3x640x640 | head -1; check ppocr-det .device/models/ocr-det-fp16.onnx paddleocr-det 1 text; check ppocr-det .device/models/ocr-det-fp16.onnx paddleocr-det 32 text; }
[ -f .device/models/ocr-rec-fp16.onnx ] && { $bin plan .device/models/ocr-rec-fp16.onnx --shape x=1x3x48x320 | head -1; check ppocr-rec .device/models/ocr-rec-fp16.onnx paddleocr-rec 1 text; check ppocr-rec .device/models/ocr-rec-fp16.onnx paddleocr-rec 32 text; }
# Model-zoo topologies with full-size random weights, made here from the light models (batch 1: their
# graphs fix it).
if [ -d .device/light ]; then
  mkdir -p .cache/material/onnx-tests && rm -rf .cache/material/onnx-tests/light && cp -r .device/light .cache/material/onnx-tests/light
  python3 scripts/make-light-models.py $d/zoo > /dev/null 2>&1
  for m in resnet50 densenet121 inception_v1 inception_v2 squeezenet shufflenet vgg19 bvlc_alexnet zfnet512; do
    [ -f $d/zoo/light_$m.onnx ] && check $m $d/zoo/light_$m.onnx imagenet224 1
  done
fi
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
          "torch_reduce_overhead_b1_ms": torch.get("reduce_overhead_b1_ms")}
open(dest, "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
