#!/usr/bin/env bash
# make bench-ort: our ONNX Runtime binding vs Python onnxruntime on the same small model (the
# 0.6 MB text-angle classifier, batch 1, one thread), same input, alternating blocks of runs.
# The last line is one JSON object; latency_vs_python_ort = our median / Python's (≤ 1.05 passes).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
bin=.build/release/halfpipe
model=.cache/material/models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx
feed=.cache/bench/cls-feed.npz
mkdir -p .cache/bench
$py -c "import numpy as np; np.savez('$feed', x=np.random.default_rng(0).standard_normal((1, 3, 48, 192)).astype(np.float32))"
ours=(); theirs=(); bound=()
for block in 1 2 3; do
  ours+=("$($bin bench "$model" --inputs "$feed" --threads 1 --runs 300 --json)")
  bound+=("$($bin bench "$model" --inputs "$feed" --threads 1 --runs 300 --binding --json)")
  theirs+=("$($py bench/ort_peer.py "$model" "$feed" 1 300)")
done
$py - "${ours[@]}" "${bound[@]}" "${theirs[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(a) for a in sys.argv[1:]]
ours, bound, theirs = rows[0:3], rows[3:6], rows[6:9]
med = lambda rs: statistics.median(r["p50Ms"] for r in rs)
o, b, t = med(ours), med(bound), med(theirs)
print(f"text-angle classifier, batch 1, 1 thread, median of 3 blocks × 300 runs (p50 each):")
blocks = lambda rs: ", ".join("%.3f" % r["p50Ms"] for r in rs)
print(f"  halfpipe run path    {o:.3f} ms (blocks: {blocks(ours)})")
print(f"  halfpipe I/O binding {b:.3f} ms (blocks: {blocks(bound)})")
print(f"  python onnxruntime   {t:.3f} ms (blocks: {blocks(theirs)})")
print(json.dumps({"bench": "ort", "latency_vs_python_ort": round(o / t, 3), "binding_latency_vs_python_ort": round(b / t, 3),
                  "halfpipe_p50_ms": round(o, 4), "python_p50_ms": round(t, 4)}))
PY
