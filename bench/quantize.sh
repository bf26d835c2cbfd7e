#!/usr/bin/env bash
# `halfpipe quantize` against ONNX Runtime's quantize_static on the real models of the test
# material, in the same run: the whole command's time and peak memory at 50 and 200 calibration
# images (same samples, same calibration method), each INT8 model's task accuracy against FP32,
# and INT8 latency against FP32 in our ORT binding (batch 1 and 8, 1 and 2 threads). Last line: JSON.
#
# QBENCH_MODELS picks models (default: all five), QBENCH_METHOD the calibrator (default entropy,
# TensorRT's 2048-bin scheme; ORT's Entropy calibrator is run with 2048 bins for the comparison).
# QBENCH_SPEED=0 skips the calibration speed and memory part, QBENCH_ORT=0 ORT's tool in the
# others, QBENCH_MIXED=0 the mixed-precision part; QBENCH_WEIGHT_BITS=8 makes 8-bit-weight models.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIN=${HALFPIPE_BIN:-.build/release/halfpipe}
WORK=${QBENCH_DIR:-.cache/bench-quantize}
MODELS=${QBENCH_MODELS:-cls orientation yolo rec det}
METHOD=${QBENCH_METHOD:-entropy}
MEM_GB=${QBENCH_MEM_GB:-20}
mkdir -p "$WORK"
results="$WORK/results.jsonl"
: > "$results"

# The calibration method of each model, the same for both tools: YOLO heads need the full range
# (entropy clips the box and score tensors: 0.76 of FP32's boxes kept against 0.92 with minmax).
method_of() { [ "$1" = yolo ] && echo minmax || echo "$METHOD"; }
batch_of() { case $1 in yolo) echo 1 ;; det) echo 2 ;; *) echo 8 ;; esac; }
# The models, their latency shapes and our options (the accuracy search on each task's own
# criterion): bench/quantize_options.sh.
# shellcheck source=bench/quantize_options.sh
. bench/quantize_options.sh
# ORT's quantize_static is stopped after this long (its entropy calibrator took 376 s on 34 images
# of the small classifier here): the ratio is then a lower bound, and says so.
ORT_SECONDS=${QBENCH_ORT_SECONDS:-300}

for m in $MODELS; do
  model=$(model_file "$m")
  dir="$WORK/$m"
  if [ ! -f "$dir/.prepared" ]; then
    $PY bench/quantize_peer.py prepare --model "$m" --images 200 --out "$dir" > /dev/null
    touch "$dir/.prepared"
  fi
  mkdir -p "$dir/c50"
  ls "$dir/calib" | sort | head -50 | while read -r f; do ln -sf "../calib/$f" "$dir/c50/$f"; done
  # Speed and memory: the whole command of each tool with the same calibrator (entropy unless
  # QBENCH_METHOD says otherwise), at 50 and 200 images.
  # QBENCH_SPEED=0 skips this part (the accuracy and latency parts stay).
  for n in $([ "${QBENCH_SPEED:-1}" = 1 ] && echo 50 200); do
    calib=$([ $n = 50 ] && echo "$dir/c50" || echo "$dir/calib")
    ours=$($PY bench/quantize_peer.py time-cmd --mem-limit-gb "$MEM_GB" -- $BIN quantize "$model" -o "$dir/speed-$n.onnx" \
      --calibration "$calib" --calibrator "$METHOD" --calibration-batch "$(batch_of "$m")" --threads 2 | tail -n 1)
    ort=$(timeout --signal=KILL "$ORT_SECONDS" $PY bench/quantize_peer.py ort-quantize --model "$m" --calib "$dir/calib" --calib-limit $n --method "$METHOD" \
      --activation-type quint8 --upgrade-opset 13 --mem-limit-gb "$MEM_GB" --out "$dir/ort-speed-$n.onnx" 2>/dev/null | tail -n 1 \
      || echo "{\"ok\": false, \"error\": \"stopped after $ORT_SECONDS s\", \"seconds\": $ORT_SECONDS, \"stopped\": true}")
    [ -n "$ort" ] || ort="{\"ok\": false, \"error\": \"stopped after $ORT_SECONDS s\", \"seconds\": $ORT_SECONDS, \"stopped\": true}"
    echo "{\"model\":\"$m\",\"images\":$n,\"ours\":$ours,\"ort\":$ort}" >> "$results"
  done
  # Accuracy: each tool's INT8 model from the 200 images with the model's method; ours with its
  # accuracy search on the task's tolerance.
  # shellcheck disable=SC2046
  $BIN quantize "$model" -o "$dir/ours-200.onnx" --calibration "$dir/calib" $(our_options "$m") ${QBENCH_WEIGHT_BITS:+--weight-bits $QBENCH_WEIGHT_BITS} --report "$dir/ours-200.json" --threads 2 > "$dir/ours-200.txt" 2>&1 || true
  # The headline: our defaults only (the accuracy guard judges on the 40 files it holds back;
  # exit 1 and no model where it cannot pass). The per-model options above are the comparison.
  rm -f "$dir/defaults-200.onnx"
  # shellcheck disable=SC2046
  $BIN quantize "$model" -o "$dir/defaults-200.onnx" --calibration "$dir/calib" --calibration-batch "$(batch_of "$m")" --report "$dir/defaults-200.json" --threads 2 > "$dir/defaults-200.txt" 2>&1 \
    && echo "{\"model\":\"$m\",\"defaults_exit\":0}" >> "$results" || echo "{\"model\":\"$m\",\"defaults_exit\":$?}" >> "$results"
  if [ "$(method_of "$m")" = "$METHOD" ] && [ -f "$dir/ort-speed-200.onnx" ]; then
    cp "$dir/ort-speed-200.onnx" "$dir/ort-200.onnx"
  elif [ "${QBENCH_ORT:-1}" = 1 ]; then
    # QBENCH_ORT=0 leaves ORT's tool out of the accuracy and latency parts.
    timeout --signal=KILL "$ORT_SECONDS" $PY bench/quantize_peer.py ort-quantize --model "$m" --calib "$dir/calib" --calib-limit 200 --method "$(method_of "$m")" \
      --activation-type quint8 --upgrade-opset 13 --mem-limit-gb "$MEM_GB" --out "$dir/ort-200.onnx" > /dev/null 2>&1 || true
  fi
  for who in defaults ours ort; do
    if [ -f "$dir/$who-200.onnx" ]; then
      acc=$($PY bench/quantize_peer.py evaluate --model "$m" --fp32 "$model" --int8 "$dir/$who-200.onnx" --eval "$dir/eval" 2>/dev/null | tail -n 1)
    fi
    [ -n "${acc:-}" ] || acc='{}'
    echo "{\"model\":\"$m\",\"accuracy\":\"$who\",\"result\":$acc}" >> "$results"
    acc=""
  done
  # Latency: FP32 and both INT8 models, interleaved, in our binding.
  batches="1 8"; [ "$m" = yolo ] && batches=1
  for b in $batches; do
    for t in 1 2; do
      for who in fp32 defaults ours ort; do
        f=$model; [ $who != fp32 ] && f="$dir/$who-200.onnx"
        [ -f "$f" ] || continue
        p50=$($BIN bench "$f" --shape "$(input_of "$m")=${b}x$(shape_of "$m")" --random --threads $t --runs 60 --warmup 5 --json 2>/dev/null \
          | sed -n 's/.*"p50Ms" *: *\([0-9.eE+-]*\).*/\1/p')
        echo "{\"model\":\"$m\",\"latency\":\"$who\",\"batch\":$b,\"threads\":$t,\"p50_ms\":${p50:-null}}" >> "$results"
      done
    done
  done
  echo "bench-quantize: $m done" >&2
done

# Automatic mixed precision against onnxconverter-common, on the same models.
[ "${QBENCH_MIXED:-1}" = 1 ] && bash bench/mixed.sh "$results"

$PY bench/quantize_summary.py "$results"
