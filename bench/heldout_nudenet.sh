#!/usr/bin/env bash
# A held-out real detector, defaults only: NudeNet 3.4.2's YOLOv8n (320n.onnx, from its PyPI wheel;
# symbolic input size, Ultralytics metadata), never in our material or tests. On pictures with
# people from OpenCV's and scikit-image's samples and frames of vtest.avi: `halfpipe detect` with
# its defaults and with NudeNet's own preprocessing against NudeNet's pipeline; `convert --to fp16`
# (run check) and `quantize` (accuracy guard) with defaults, calibrated on other vtest.avi frames,
# their boxes against FP32's reference. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"
BIN=${HALFPIPE_BIN:-.build/release/halfpipe}
W=${HELDOUT_DIR:-.cache/heldout-nudenet}
DATA=/usr/share/doc/opencv-doc/examples/data
SK=.cache/material/images/skimage
mkdir -p "$W"
if [ ! -f "$W/wheel/nudenet/320n.onnx" ]; then
  $PY -m pip download --quiet --no-deps nudenet==3.4.2 -d "$W" > /dev/null
  rm -rf "$W/wheel" && mkdir -p "$W/wheel" && (cd "$W/wheel" && $PY -m zipfile -e ../nudenet-3.4.2-py3-none-any.whl .)
fi
M=$W/wheel/nudenet/320n.onnx
# Pictures judged (never calibrated on) and calibration frames (vtest frames 5, 15, 25 …).
rm -rf "$W/eval" "$W/calib" && mkdir -p "$W/eval" "$W/calib"
cp $SK/astronaut.png $SK/camera.png $DATA/messi5.jpg $DATA/basketball1.png $DATA/basketball2.png $DATA/home.jpg "$W/eval/"
$PY - "$DATA/vtest.avi" "$W" <<'PYEOF'
import sys, cv2
video, out = sys.argv[1], sys.argv[2]
capture, i = cv2.VideoCapture(video), 0
while True:
    ok, frame = capture.read()
    if not ok:
        break
    if i % 40 == 0:
        cv2.imwrite(f"{out}/eval/vtest{i:03d}.png", frame)
    elif i % 10 == 5:
        cv2.imwrite(f"{out}/calib/v{i:03d}.png", frame)
    i += 1
PYEOF
$BIN preprocess --preset yolo640 --size 320 --pad top-left --pad-value 0 --print-spec > "$W/nudenet-spec.json"
compare() { $PY bench/heldout_nudenet.py "$W/wheel" "$M" "$1" "$W/eval"; }
$BIN detect "$M" "$W/eval" -o "$W/defaults.jsonl" 2> "$W/detect.txt"
defaults=$(compare "$W/defaults.jsonl")
$BIN detect "$M" "$W/eval" --image-spec "$W/nudenet-spec.json" --class-agnostic -o "$W/spec.jsonl" 2>> "$W/detect.txt"
own=$(compare "$W/spec.jsonl")
$BIN convert "$M" -o "$W/fp16.onnx" --to fp16 > "$W/convert.txt"
$BIN detect "$W/fp16.onnx" "$W/eval" --image-spec "$W/nudenet-spec.json" --class-agnostic -o "$W/fp16.jsonl" 2>> "$W/detect.txt"
fp16=$(compare "$W/fp16.jsonl")
result() {  # quantize with $2…, then compare; exit code kept
  rm -f "$W/$1.onnx"
  local rc=0
  $BIN quantize "$M" -o "$W/$1.onnx" --calibration "$W/calib" "${@:2}" > "$W/$1.txt" 2>&1 || rc=$?
  if [ -f "$W/$1.onnx" ]; then
    $BIN detect "$W/$1.onnx" "$W/eval" --image-spec "$W/nudenet-spec.json" --class-agnostic -o "$W/$1.jsonl" 2>> "$W/detect.txt"
    echo "{\"exit\": $rc, \"layers\": \"$(sed -n 's/^quantized \([0-9]* of [0-9]*\) layers.*/\1/p' "$W/$1.txt")\", \"boxes\": $(compare "$W/$1.jsonl")}"
  else
    echo "{\"exit\": $rc}"
  fi
}
int8=$(result int8)
unguarded=$(result int8-unguarded --no-accuracy-guard)
lat() { $BIN bench "$1" --shape images=1x3x320x320 --random --threads "$2" --runs 40 --warmup 5 --json 2>/dev/null | sed -n 's/.*"p50Ms" *: *\([0-9.eE+-]*\).*/\1/p'; }
latency=""
for t in 1 2; do
  for f in fp32:$M fp16:$W/fp16.onnx int8:$W/int8.onnx; do
    [ -f "${f#*:}" ] || continue
    latency="$latency\"${f%%:*}_t$t\": $(lat "${f#*:}" $t), "
  done
done
echo "detect defaults vs NudeNet: $defaults"
echo "detect with NudeNet's preprocessing: $own"
echo "FP16 (convert defaults): $fp16"
echo "INT8 quantize defaults (guard): $int8"
echo "INT8 --no-accuracy-guard: $unguarded"
echo "{\"bench\": \"heldout-nudenet\", \"detect_defaults\": $defaults, \"detect_own_preprocessing\": $own, \"fp16\": $fp16, \"int8_defaults\": $int8, \"int8_unguarded\": $unguarded, \"p50_ms\": {${latency%, }}}"
