#!/usr/bin/env bash
# Step 6 of bench/gpu.sh (the GPU machine): `halfpipe detect` with GPU lanes — preprocessing, the
# FP16 CUDA engine and decode + NMS on the GPU, only kept boxes back — on the real YOLOX-style
# detector (FP16 copy) and real pictures held in memory, batch 64. Sourced by bench/gpu.sh with $bin
# and $out set; writes $out/gpu-detect.json and prints it last. GPU_PIPELINE_ONLY=1 runs only it.
d=/tmp/halfpipe-pipeline
rm -rf "$d" && mkdir -p "$d"
export HALFPIPE_ENGINE_CACHE=$d/engine-cache
det=.device/models/det-fp16.onnx
pictures=(.device/images/* .device/seed-0.png .device/seed-1.png .device/seed-2.png)
frames=(); for i in $(seq 0 63); do frames+=("${pictures[i % ${#pictures[@]}]}"); done
common=(--image-preset yolox416 --score 0.1)

echo "== correctness: the lane against ONNX Runtime (CPU) and against the engine with host outputs"
$bin detect $det "${pictures[@]}" "${common[@]}" --device cpu -o $d/cpu.jsonl 2> $d/cpu.txt || cat $d/cpu.txt
# 73 frames: a full batch of 64 and a partial one of 9 (the end of the stream mid-batch).
checked=("${frames[@]}" "${pictures[@]}")
$bin detect $det "${checked[@]}" "${common[@]}" --device cuda --batch 64 --postprocess cpu -o $d/host.jsonl 2> $d/host.txt || cat $d/host.txt
$bin detect $det "${checked[@]}" "${common[@]}" --device cuda --batch 64 -o $d/lane.jsonl 2> $d/lane.txt || cat $d/lane.txt
echo "lane frames written: $(wc -l < $d/lane.jsonl) of ${#checked[@]}"
grep -h "detect: .*onnx" $d/host.txt $d/lane.txt
agree_cpu=$(python3 bench/detect_agree.py $d/cpu.jsonl $d/lane.jsonl 0.9)
# The host path runs its last, partial batch (9 frames) at batch 9, the lane pads it to 64: the
# engine's plans (and cuDNN's algorithms) differ between those batch sizes, so FP16 results can move.
agree_host=$(python3 bench/detect_agree.py $d/host.jsonl $d/lane.jsonl 0.99)
echo "lane vs ONNX Runtime CPU: $agree_cpu"
echo "lane vs engine + CPU postprocess: $agree_host"

echo "== speed: frames in memory, batch 64"
run() {  # name workers device repeat
  $bin detect $det "${frames[@]}" "${common[@]}" --device "$3" --workers "$2" --batch 64 --preload --repeat "$4" \
    -o /dev/null --report $d/$1.json --trace $d/$1-trace.json 2> $d/$1.txt || cat $d/$1.txt
  grep -E "detect: [0-9]+ frames|cuda:[0-9]+ (upload|preprocess|inference|postprocess)" $d/$1.txt
}
run warm 1 cuda 10 > /dev/null
# The six smaller pictures only (about 0.5 MB a frame against 1.4): the host stages a batch faster
# than the GPU runs it, so the GPU is the bottleneck and the trace shows what overlaps there.
small=(); for i in $(seq 0 63); do small+=("${pictures[i % 6]}"); done
$bin detect $det "${small[@]}" "${common[@]}" --device cuda --batch 64 --preload --repeat 100 -o /dev/null --report $d/small.json --trace $d/small-trace.json 2> $d/small.txt || cat $d/small.txt
grep -E "detect: [0-9]+ frames|cuda:[0-9]+ (inference|postprocess)" $d/small.txt
overlap_small=$(python3 bench/trace_overlap.py $d/small-trace.json)
echo "overlap (one lane, small frames): $overlap_small"
# Where the engine's time goes at batch 64 (each step timed alone; top steps).
HALFPIPE_ENGINE_PROFILE=1 $bin detect $det "${frames[@]}" "${common[@]}" --device cuda --batch 64 -o /dev/null 2>&1 | grep -E "engine profile|^  [0-9.]+ us" | head -16
run one 1 cuda 100
run two-lanes 2 cuda 100
gpus=$(nvidia-smi -L | grep -c '^GPU')
[ "$gpus" -ge 2 ] && run all-gpus 1 cuda:all 200
echo "== JPEG files: nvJPEG on the lane against libjpeg-turbo on the CPU's cores"
# The real pictures as JPEGs (quality 90), 64 of them, read from files 10 times over (no preload).
python3 - "$d/jpeg" "${pictures[@]}" <<'PY'
import cv2, os, sys
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
pics = sys.argv[2:]
for i in range(64):
    img = cv2.imread(pics[i % len(pics)], cv2.IMREAD_COLOR)
    cv2.imwrite(f"{out}/frame-{i:02d}.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
PY
jpegs=(); for r in $(seq 1 10); do jpegs+=($d/jpeg/*.jpg); done
for where in cuda cpu; do
  $bin detect $det "${jpegs[@]}" "${common[@]}" --device cuda --batch 64 --decode $where -o $d/jpeg-$where.jsonl --report $d/jpeg-$where.json 2> $d/jpeg-$where.txt || cat $d/jpeg-$where.txt
  grep -E "detect: [0-9]+ frames|cuda:0 (decode|upload)|^  decode" $d/jpeg-$where.txt
done
grep -h "detect: .*onnx" $d/jpeg-cuda.txt
agree_jpeg=$(python3 bench/detect_agree.py $d/jpeg-cpu.jsonl $d/jpeg-cuda.jsonl 0.99)
echo "nvJPEG vs CPU decoding: $agree_jpeg"
overlap=$(python3 bench/trace_overlap.py $d/one-trace.json)
# Multiply-adds of one frame (the plan at batch 1), for the fraction of the H200's dense FP16
# tensor-core peak (989.4 TFLOPS, NVIDIA's H200 SXM figure without sparsity).
macs=$($bin plan $det --device cuda --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["multiplyAdds"])')
echo "overlap (one lane): $overlap"
python3 - "$out/gpu-detect.json" "$d" "$gpus" "$agree_cpu" "$agree_host" "$overlap" "$macs" "$agree_jpeg" "$overlap_small" <<'PY'
import json, os, sys
path, d, gpus, agree_cpu, agree_host, overlap, macs, agree_jpeg, overlap_small = sys.argv[1:10]
def fps(name):
    p = f"{d}/{name}.json"
    return json.load(open(p))["fps"] if os.path.exists(p) else None
one, two, every = fps("one"), fps("two-lanes"), fps("all-gpus")
result = {"bench": "gpu-detect", "fps": round(one, 1) if one else None,
          "fps_two_gpus_over_one": round(every / one, 3) if every and one else None,
          "gpus": int(gpus), "fps_two_lanes_one_gpu": round(two, 1) if two else None, "batch": 64,
          "gflops_per_frame": round(2 * int(macs) / 1e9, 3), "tensor_core_fraction": round(one * 2 * int(macs) / 989.4e12, 4) if one else None,
          "overlap": json.loads(overlap), "fps_small_frames": fps("small"), "overlap_small_frames": json.loads(overlap_small),
          "jpeg_files_fps_nvjpeg": fps("jpeg-cuda"), "jpeg_files_fps_cpu_decode": fps("jpeg-cpu"), "nvjpeg_vs_cpu_decode": json.loads(agree_jpeg), "vs_onnxruntime_cpu": json.loads(agree_cpu), "vs_engine_host_outputs": json.loads(agree_host)}
open(path, "w").write(json.dumps(result) + "\n")
print(json.dumps(result))
PY
