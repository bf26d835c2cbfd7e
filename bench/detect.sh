#!/usr/bin/env bash
# `halfpipe detect` against the straightforward Python pipeline (bench/detect_peer.py: OpenCV
# capture, numpy/cv2 letterbox, ONNX Runtime, numpy decode + cv2 NMS) on the same real video and
# the same YOLOX-style detector, in the same run, rounds interleaved. Then the INT8 model
# `halfpipe quantize` makes of the detector (calibrated on every 25th frame of the video; every layer
# int8 but the output layer: on this model the float islands the cost rule leaves cost more than the
# small int8 convolutions they avoid: 100 fps against 69 measured on 400 frames), with
# its box agreement against FP32. Last line: JSON.
#
# DBENCH_FRAMES limits the frames (default: the whole video), DBENCH_ROUNDS the rounds (default 2;
# each figure is the best round of each, so the machine's noise does not pick the winner).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIN=${HALFPIPE_BIN:-.build/release/halfpipe}
WORK=${DBENCH_DIR:-.cache/bench-detect}
VIDEO=${DBENCH_VIDEO:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}
MODEL=.cache/material/models/ddddocr/common_det.onnx
ROUNDS=${DBENCH_ROUNDS:-2}
FRAMES=${DBENCH_FRAMES:-}
mkdir -p "$WORK/calibration"
limit_py=(); limit_hp=()
if [ -n "$FRAMES" ]; then limit_py=(--frames "$FRAMES"); limit_hp=(--frames "$FRAMES"); fi

echo "== INT8 model: calibrated on every 25th frame of $(basename "$VIDEO")" >&2
$PY - "$VIDEO" "$WORK/calibration" <<'PYEOF'
import sys, cv2
capture, i = cv2.VideoCapture(sys.argv[1]), 0
while True:
    ok, frame = capture.read()
    if not ok: break
    if i % 25 == 0: cv2.imwrite(f"{sys.argv[2]}/frame{i:05d}.png", frame)
    i += 1
PYEOF
INT8=$WORK/det-int8.onnx
"$BIN" quantize "$MODEL" -o "$INT8" --calibration "$WORK/calibration" --image-preset yolox416 --calibrator minmax \
  --keep-output-layers 1 --every-layer >&2

for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round: Python pipeline" >&2
  $PY bench/detect_peer.py pipeline --model "$MODEL" --video "$VIDEO" --score 0.1 --iou 0.45 "${limit_py[@]}" \
    --out "$WORK/python.jsonl" | tail -1 > "$WORK/python-$round.json"
  cat "$WORK/python-$round.json" >&2
  for kind in fp32 int8; do
    model=$MODEL; [ $kind = int8 ] && model=$INT8
    echo "== round $round: halfpipe detect ($kind)" >&2
    "$BIN" detect "$model" "$VIDEO" --image-preset yolox416 --score 0.1 --iou 0.45 "${limit_hp[@]}" \
      -o "$WORK/halfpipe-$kind.jsonl" --report "$WORK/halfpipe-$kind-$round.json" --trace "$WORK/trace-$kind.json" 2>&1 | grep -v "frames, .* fps$" >&2
  done
done

$PY - "$WORK" "$ROUNDS" <<'PYEOF'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
load = lambda p: json.load(open(p))
python = max((load(f"{work}/python-{r}.json") for r in range(1, rounds + 1)), key=lambda j: j["fps"])
ours = {k: max((load(f"{work}/halfpipe-{k}-{r}.json") for r in range(1, rounds + 1)), key=lambda j: j["fps"]) for k in ("fp32", "int8")}

def lines(path): return [json.loads(l) for l in open(path)]
def iou(p, q):
    w = max(0, min(p[2], q[2]) - max(p[0], q[0])); h = max(0, min(p[3], q[3]) - max(p[1], q[1])); i = w * h
    u = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - i
    return i / u if u > 0 else 0
def agreement(reference, candidate, threshold=0.25):
    """Boxes of the reference above `threshold` found again (IoU >= 0.5, same class), and the other way."""
    found = ref_n = cand_n = 0
    for a, b in zip(lines(reference), lines(candidate)):
        ra = [d for d in a["detections"] if d["score"] > threshold]; cb = [d for d in b["detections"] if d["score"] > threshold]
        ref_n += len(ra); cand_n += len(cb); used = set()
        for d in ra:
            best = max(((iou(d["box"], e["box"]), j) for j, e in enumerate(cb) if j not in used and e["class"] == d["class"]), default=(0, -1))
            if best[0] >= 0.5: used.add(best[1]); found += 1
    return found / max(ref_n, 1), found / max(cand_n, 1), ref_n

recall_fp32, precision_fp32, n = agreement(f"{work}/python.jsonl", f"{work}/halfpipe-fp32.jsonl")
recall_int8, precision_int8, _ = agreement(f"{work}/halfpipe-fp32.jsonl", f"{work}/halfpipe-int8.jsonl")
print(f"Python pipeline: {python['fps']:.1f} fps over {python['frames']} frames (decode {python['decode_ms']:.2f}, preprocess "
      f"{python['preprocess_ms']:.2f}, inference {python['inference_ms']:.2f}, postprocess {python['postprocess_ms']:.2f} ms per frame)", file=sys.stderr)
for k, j in ours.items():
    print(f"halfpipe detect {k}: {j['fps']:.1f} fps over {j['frames']} frames, batch {j['batch']}, {j['workers']} workers, "
          f"inference busy {100 * j['inference_fraction']:.1f} % of the wall time", file=sys.stderr)
print(f"boxes (score > 0.25) vs the Python pipeline: recall {recall_fp32:.3f}, precision {precision_fp32:.3f} over {n} boxes", file=sys.stderr)
print(f"INT8 boxes vs FP32: recall {recall_int8:.3f}, precision {precision_int8:.3f}", file=sys.stderr)
print(json.dumps({"bench": "detect", "fps_vs_python": round(ours["fp32"]["fps"] / python["fps"], 3),
                  "fps_int8_vs_python": round(ours["int8"]["fps"] / python["fps"], 3),
                  "non_inference_fraction": round(1 - ours["fp32"]["inference_fraction"], 4)}))
PYEOF
