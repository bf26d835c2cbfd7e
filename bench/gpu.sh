#!/usr/bin/env bash
# Runs on the GPU machine (see `make device-bench`): every GPU check and benchmark in one command.
# Needs .device/ (the static halfpipe binary, the seed images, real pictures) carried along; writes
# $OUT/gpu-bench.json (preprocessing), gpu-detect-postprocess.json, gpu-engine.json (the last line
# printed) and $OUT/gpu-log.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/halfpipe-gpu-out}
mkdir -p "$out"
bin=.device/halfpipe
# The carry is limited to 64 MiB: the binary travels xz-compressed and the seed array as its PNGs.
if [ -f .device/halfpipe.xz ] && [ ! -x .device/halfpipe ]; then
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.device/halfpipe.xz'), open('.device/halfpipe', 'wb'))" && chmod +x .device/halfpipe
fi
[ -f .device/seed.npy ] || python3 -c "import cv2, numpy as np; np.save('.device/seed.npy', np.stack([cv2.imread(f'.device/seed-{i}.png')[..., ::-1] for i in range(3)]))"
export HALFPIPE_KERNEL_CACHE=/tmp/halfpipe-kernels
log="$out/gpu-log.txt"
exec > >(tee "$log") 2>&1
nvidia-smi -L
seed=(.device/seed-0.png .device/seed-1.png .device/seed-2.png)
real=(.device/images/*)
many=(); for i in $(seq 0 63); do many+=(".device/seed-$((i % 3)).png"); done

# 5. The FP16 CUDA engine: correctness against ONNX Runtime, speed against PyTorch (bench/gpu_engine.sh;
# it also runs last in a full run). GPU_ENGINE_ONLY=1 runs only this step.
if [ "${GPU_ENGINE_ONLY:-0}" = 1 ]; then source bench/gpu_engine.sh; exit 0; fi
# 6. The detection pipeline with GPU lanes (bench/gpu_detect.sh). GPU_PIPELINE_ONLY=1 runs only it.
if [ "${GPU_PIPELINE_ONLY:-0}" = 1 ]; then source bench/gpu_detect.sh; exit 0; fi

# 3 (machines with two or more GPUs): the 64-image batch split over every GPU, shares preprocessed
# at the same time, checked against the CPU. GPU_MULTI_ONLY=1 runs only this step.
gpus=$(nvidia-smi -L | grep -c '^GPU')
if [ "$gpus" -ge 2 ]; then
  multi=$($bin preprocess "${many[@]}" --preset yolo640 --dtype float16 --device cuda:all --repeats 100 --check --json -o /tmp/bm.npy)
  python3 - "$multi" "$out/gpu-multi.json" <<'PY'
import json, sys
m = json.loads(sys.argv[1])["gpus"]
result = {"bench": "gpu-preprocess-multi", "devices": m["devices"], "slots_per_device": m["slotsPerDevice"],
          "end_to_end_ms_per_device": m["endToEndMsPerDevice"], "concurrent_wall_ms": m["concurrentWallMs"],
          "single_device_end_to_end_ms": m["singleDeviceEndToEndMs"], "exact_vs_cpu": m["mismatches"] == 0}
open(sys.argv[2], "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
fi
[ "${GPU_MULTI_ONLY:-0}" = 1 ] && exit 0

# 4. Detection postprocessing on the GPU (decode, sort, class-aware NMS and the mapping back, four
# launches per batch of 64) against the CPU path, batch by batch: the real YOLOX-style detector (an
# FP16 copy, run by ONNX Runtime on the CPU) on real pictures at its threshold and at 0.001
# (thousands of candidates per frame), and a YOLOv8-shaped head with 80 classes made from random
# pictures (fresh each run). GPU_DETECT_ONLY=1 runs only this step.
mkdir -p /tmp/halfpipe-heads && rm -f /tmp/halfpipe-heads/*.png
python3 -c '
import cv2, numpy as np
rng = np.random.default_rng()
for i in range(64): cv2.imwrite(f"/tmp/halfpipe-heads/head-{i:02d}.png", rng.integers(0, 256, (640, 640, 3), dtype=np.uint8))
'
pictures=(.device/images/* "${seed[@]}"); pics=(); for i in $(seq 0 63); do pics+=("${pictures[i % ${#pictures[@]}]}"); done
det=.device/models/det-fp16.onnx
$bin detect $det "${pics[@]}" --image-preset yolox416 --score 0.1 --batch 64 --postprocess cuda --check-postprocess -o /tmp/det1.jsonl 2> /tmp/det1.txt; r1=$?
$bin detect $det "${pics[@]}" --image-preset yolox416 --score 0.001 --batch 64 --postprocess cuda --check-postprocess -o /tmp/det2.jsonl 2> /tmp/det2.txt; r2=$?
$bin detect .device/models/random-head.onnx /tmp/halfpipe-heads/*.png --image-preset yolo640 --score 0.995 --batch 64 --postprocess cuda \
  --check-postprocess -o /tmp/det3.jsonl 2> /tmp/det3.txt; r3=$?
grep -h "postprocess" /tmp/det1.txt /tmp/det2.txt /tmp/det3.txt
python3 - "$out/gpu-detect-postprocess.json" "$r1" "$r2" "$r3" <<'PY'
import json, re, sys
runs = []
for i, name in enumerate(["det1", "det2", "det3"]):
    text = open(f"/tmp/{name}.txt").read()
    agree = re.search(r"GPU vs CPU postprocess: (\d+) frames, (\d+) boxes, (\d+) frame\(s\) differ; worst IoU ([\d.]+).*CPU p50 ([\d.]+) ms", text)
    gpu = re.search(r"GPU postprocess p50 ([\d.]+) ms", text)
    if not agree or not gpu:
        print(f"{name}: no check line (exit {sys.argv[2 + i]}):\n{text[-2000:]}")
        runs.append(None); continue
    runs.append({"frames": int(agree[1]), "boxes": int(agree[2]), "mismatched_frames": int(agree[3]), "worst_iou": float(agree[4]),
                 "cpu_ms": float(agree[5]), "gpu_ms": float(gpu[1]), "exit": int(sys.argv[2 + i])})
ok = all(r is not None for r in runs)
result = {"bench": "gpu-detect-postprocess", "checks": len(runs), "all_ran": ok,
          "frames": sum(r["frames"] for r in runs if r), "boxes": sum(r["boxes"] for r in runs if r),
          "mismatched_frames": sum(r["mismatched_frames"] for r in runs if r),
          "worst_iou": min((r["worst_iou"] for r in runs if r), default=0), "runs": runs}
open(sys.argv[1], "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
[ "${GPU_DETECT_ONLY:-0}" = 1 ] && exit 0

$bin devices

# 1. Correctness: every mode against the CPU pass, on real pictures and three fresh random ones of
# random sizes (new each run; the output is poisoned before the checked run).
mkdir -p /tmp/halfpipe-random && rm -f /tmp/halfpipe-random/*.png
python3 -c '
import cv2, numpy as np
rng = np.random.default_rng()
for i in range(3):
    h, w = (int(v) for v in rng.integers(1, 1500, 2))
    cv2.imwrite(f"/tmp/halfpipe-random/random-{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
'
real+=(/tmp/halfpipe-random/*.png)
fails=0; checks=0
for resize in letterbox stretch crop; do
  for interp in bilinear nearest area; do
    for dtype in float16 float32 bfloat16 uint8; do
      for layout in nchw nhwc; do
        extra=(); [ "$dtype" != uint8 ] && extra=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
        r=$($bin preprocess "${real[@]}" "${seed[@]}" --size 384x640 --resize $resize --interpolation $interp \
             --dtype $dtype --layout $layout "${extra[@]}" --batch 16 --device cuda --check --json -o /tmp/check.npy)
        m=$(python3 -c 'import json,sys; g=json.loads(sys.argv[1])["gpu"]; print(g["mismatches"], g["maxULP"])' "$r")
        checks=$((checks + 1)); [ "${m%% *}" = 0 ] || { fails=$((fails + 1)); echo "MISMATCH $resize $interp $dtype $layout: $m"; }
      done
    done
  done
done
# The remaining parameters, each on top of a letterbox: pad placement, rounding, channel order,
# int8 output, and no resizing at all (a target larger than every picture).
for extra in "--pad top-left" "--rounding truncate" "--order bgr" "--dtype int8 --int8-scale 1/64 --int8-zero-point=-3" \
             "--resize none --size 1600x1600" "--pad-value 0 --scale 1 --mean 0 --std 1 --dtype float32"; do
  for layout in nchw nhwc; do
    size=(--size 384x640); [[ "$extra" == *"--size"* ]] && size=()
    r=$($bin preprocess "${real[@]}" "${seed[@]}" "${size[@]}" $extra --layout $layout --batch 16 --device cuda --check --json -o /tmp/check.npy)
    m=$(python3 -c 'import json,sys; g=json.loads(sys.argv[1])["gpu"]; print(g["mismatches"], g["maxULP"])' "$r")
    checks=$((checks + 1)); [ "${m%% *}" = 0 ] || { fails=$((fails + 1)); echo "MISMATCH $extra $layout: $m"; }
  done
done
echo "correctness: $checks mode combinations, $fails with differences"

# Bad input on the GPU: a kernel that does not compile (its log shown), a batch larger than memory.
printf 'extern "C" __global__ void broken(float* x) { x[0] = undefined_name; }\n' > /tmp/broken.cu
$bin devices --compile /tmp/broken.cu > /tmp/compile.txt 2>&1; compile_rc=$?
grep -q "compiler log" /tmp/compile.txt && grep -q undefined_name /tmp/compile.txt && [ $compile_rc = 2 ] && compile_ok=1 || compile_ok=0
cat /tmp/compile.txt
# 61,000 slots of 640x640 float16 is 150 GB: more than the H200's 139 GiB, refused by cuMemAlloc.
$bin preprocess .device/seed-0.png --preset yolo640 --dtype float16 --batch 61000 --device cuda -o /tmp/oom.npy > /tmp/oom.txt 2>&1; oom_rc=$?
grep -q OUT_OF_MEMORY /tmp/oom.txt && [ $oom_rc = 2 ] && oom_ok=1 || oom_ok=0
cat /tmp/oom.txt

# --device on a GPU machine: a GPU the machine lacks is an error (exit 2, one line); a model asked to
# run on the GPU says which backend is missing (until the CUDA engine lands); the CPU still runs it.
cls=.device/models/cls.onnx
$bin run $cls --random --shape x=1x3x48x192 --device cuda:$gpus > /tmp/dev1.txt 2>&1; d1=$?
$bin run $cls --random --shape x=1x3x48x192 --device cuda > /tmp/dev2.txt 2>&1; d2=$?
$bin run $cls --random --shape x=1x3x48x192 --device cpu > /tmp/dev3.txt 2>&1; d3=$?
$bin preprocess .device/seed-0.png --preset yolo640 --device cuda:$gpus -o /tmp/dev4.npy > /tmp/dev4.txt 2>&1; d4=$?
cat /tmp/dev1.txt /tmp/dev2.txt /tmp/dev4.txt
[ $d1 = 2 ] && [ "$(wc -l < /tmp/dev1.txt)" = 1 ] && grep -q "this machine has $gpus CUDA device" /tmp/dev1.txt \
  && [ $d2 = 2 ] && [ "$(wc -l < /tmp/dev2.txt)" = 1 ] && grep -q "no backend runs models there" /tmp/dev2.txt \
  && [ $d3 = 0 ] && [ $d4 = 2 ] && devices_ok=1 || devices_ok=0
echo "device selection checks: $devices_ok"

# 2. Speed on the seed workload, batch 3 and 64, ours then PyTorch's.
ours3=$($bin preprocess "${seed[@]}" --preset yolo640 --dtype float16 --device cuda --repeats 200 --check --json -o /tmp/b3.npy)
ours64=$($bin preprocess "${many[@]}" --preset yolo640 --dtype float16 --device cuda --repeats 100 --json -o /tmp/b64.npy)
torch3=$(python3 bench/gpu_preprocess_peer.py .device/seed.npy 3)
torch64=$(python3 bench/gpu_preprocess_peer.py .device/seed.npy 64)
python3 - "$ours3" "$ours64" "$torch3" "$torch64" "$checks" "$fails" "$out/gpu-bench.json" "$compile_ok" "$oom_ok" "$devices_ok" <<'PY'
import json, sys
def ours(text):
    g = json.loads(text)["gpu"]
    return {**g, **g.pop("timing")}  # the timing fields beside device and mismatches
o3, o64 = ours(sys.argv[1]), ours(sys.argv[2])
t3, t64 = json.loads(sys.argv[3]), json.loads(sys.argv[4])
checks, fails, path = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
compile_ok, oom_ok, devices_ok = sys.argv[8] == "1", sys.argv[9] == "1", sys.argv[10] == "1"
print(f"batch 3:  ours kernel {o3['kernelMs']:.4f} ms, copy+kernel {o3['endToEndMs']:.4f} ms | torch kernel {t3['torch_kernel_ms']:.4f} ms, "
      f"pinned copy+kernel {t3['torch_end_to_end_ms']:.4f} ms | {o3['kernelGBs']:.0f} GB/s of {o3['deviceCopyGBs']:.0f} GB/s device copy")
print(f"batch 64: ours kernel {o64['kernelMs']:.4f} ms, copy+kernel {o64['endToEndMs']:.4f} ms | torch kernel {t64['torch_kernel_ms']:.4f} ms, "
      f"pinned copy+kernel {t64['torch_end_to_end_ms']:.4f} ms")
result = {"bench": "gpu-preprocess", "device": o3["device"],
          "kernel_vs_torch": round(t3["torch_kernel_ms"] / o3["kernelMs"], 2),
          "end_to_end_vs_torch": round(t3["torch_end_to_end_ms"] / o3["endToEndMs"], 2),
          "bandwidth_fraction": round(o3["bandwidthFraction"], 3),
          "kernel_vs_torch_batch64": round(t64["torch_kernel_ms"] / o64["kernelMs"], 2),
          "end_to_end_vs_torch_batch64": round(t64["torch_end_to_end_ms"] / o64["endToEndMs"], 2),
          "exact_vs_cpu": o3["mismatches"] == 0, "mode_checks": checks, "mode_check_failures": fails,
          "compile_error_reported": compile_ok, "out_of_memory_reported": oom_ok, "device_selection_errors_ok": devices_ok,
          "ours_kernel_ms": o3["kernelMs"], "ours_end_to_end_ms": o3["endToEndMs"],
          "torch_kernel_ms": t3["torch_kernel_ms"], "torch_end_to_end_ms": t3["torch_end_to_end_ms"], "torch": t3["torch"]}
open(path, "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY

# 6. The detection pipeline with GPU lanes (gpu-detect.json). GPU_NO_PIPELINE=1 leaves it out.
[ "${GPU_NO_PIPELINE:-0}" = 1 ] || source bench/gpu_detect.sh

# 5. The FP16 CUDA engine last, so the run ends with its JSON line (gpu-engine.json).
# GPU_NO_ENGINE=1 leaves it out (a run of steps 1-4 within one device command's time).
[ "${GPU_NO_ENGINE:-0}" = 1 ] || source bench/gpu_engine.sh
