#!/usr/bin/env bash
# INT8 against FP32 latency on the GPU machine's CPU (an Intel Xeon with AVX-512 VNNI and AMX, where
# ONNX Runtime's int8 kernels run at full speed; the development machine's EPYC has AVX2 only).
#
#   bash bench/quantize_device.sh prepare   here: quantizes the five models with 8-bit weights and
#                                            the benchmark's own options (bench/quantize_options.sh)
#                                            on the calibration samples of `make bench-quantize`
#                                            (QBENCH_DIR), into .qdev/ with the static binary
#   bash .qdev/run.sh                        there (device tool, carry [".qdev"]): FP32 and INT8 in
#                                            our ORT binding, batch 1 and 8, 1 and 2 threads
#
# Each line of the run is one JSON object; the last one is the summary. The carry limit is 64 MiB:
# the recognizer's FP32 model (11 MB) is left out when the folder would pass it.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
  prepare)
    BIN=${HALFPIPE_BIN:-.build/release/halfpipe}
    WORK=${QBENCH_DIR:-.cache/bench-quantize}
    STATIC=${STATIC_BIN:-.build-static/release/halfpipe}
    [ -x "$STATIC" ] || { echo "no static binary at $STATIC: run make static" >&2; exit 2; }
    # shellcheck source=bench/quantize_options.sh
    . bench/quantize_options.sh
    rm -rf .qdev && mkdir -p .qdev/models
    strip -o .qdev/halfpipe "$STATIC" 2>/dev/null || cp "$STATIC" .qdev/halfpipe
    xz -T0 -6 .qdev/halfpipe
    cp bench/quantize_device.sh .qdev/run.sh
    : > .qdev/models/list.txt
    for m in ${QBENCH_MODELS:-yolo orientation cls det rec}; do
      f=$(model_file "$m"); s=$(shape_of "$m"); i=$(input_of "$m")
      [ -d "$WORK/$m/calib" ] || { echo "no calibration samples in $WORK/$m: run make bench-quantize (or bench/quantize_peer.py prepare) first" >&2; exit 2; }
      # shellcheck disable=SC2046
      $BIN quantize "$f" -o ".qdev/models/$m-int8.onnx" --calibration "$WORK/$m/calib" $(our_options "$m") \
        --weight-bits 8 --threads 2 > ".qdev/models/$m-int8.txt" 2>&1
      cp "$f" ".qdev/models/$m.onnx"
      if [ "$(du -sm .qdev | cut -f1)" -gt 62 ]; then rm ".qdev/models/$m.onnx" ".qdev/models/$m-int8.onnx"; echo "$m left out: the carry would pass 64 MiB" >&2; continue; fi
      echo "$m $m.onnx $s $i $m-int8.onnx" >> .qdev/models/list.txt
    done
    du -sh .qdev
    ;;
  *)
    # On the GPU machine, from .qdev/ (this file is copied there as run.sh).
    here=$(cd "$(dirname "$0")" && pwd)
    cd "$here"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(grep -o -w -E 'avx512_vnni|amx_int8|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '))"
    python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('halfpipe.xz'), open('/tmp/halfpipe','wb'))"; chmod +x /tmp/halfpipe
    p50() { /tmp/halfpipe bench "$1" --shape "$3=$2" --random --threads "$4" --runs "${RUNS:-40}" --warmup 5 --json 2>/dev/null \
              | python3 -c "import json,sys; print(json.load(sys.stdin)['p50Ms'])" 2>/dev/null || echo null; }
    : > /tmp/qdev.jsonl
    while read -r name fp32 shape input int8; do
      # The YOLO-style detector's graph is fixed at batch 1.
      for b in 1 8; do
        [ "$name" = yolo ] && [ $b = 8 ] && continue
        for t in 1 2; do
          f=$(p50 "models/$fp32" "${b}x$shape" "$input" $t); q=$(p50 "models/$int8" "${b}x$shape" "$input" $t)
          echo "{\"model\":\"$name\",\"batch\":$b,\"threads\":$t,\"fp32_ms\":$f,\"int8_ms\":$q}" | tee -a /tmp/qdev.jsonl
        done
      done
    done < models/list.txt
    python3 - <<'PY'
import json, statistics
rows = [json.loads(l) for l in open('/tmp/qdev.jsonl')]
ratios = {}
for r in rows:
    if r["fp32_ms"] and r["int8_ms"]:
        ratios.setdefault(r["model"], []).append(r["int8_ms"] / r["fp32_ms"])
print(json.dumps({"bench": "quantize-device-cpu", "int8_over_fp32": {m: [round(x, 3) for x in v] for m, v in ratios.items()},
                  "median_by_model": {m: round(statistics.median(v), 3) for m, v in ratios.items()}}))
PY
    ;;
esac
