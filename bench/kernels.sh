#!/usr/bin/env bash
# make bench-kernels: float32→float16 conversion vs memcpy and numpy, model load+save vs Python
# onnx — ours and the peers in the same run. The last line is one JSON object of the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
elements=$((64 * 1024 * 1024))
model=.cache/bench/model-100mb.onnx
mkdir -p .cache/bench
$py bench/make_model.py "$model" 100
echo "model: $model ($(du -m "$model" | cut -f1) MB), $elements elements, $(nproc) cores"
ours=$(.build/release/halfpipe-bench kernels "$elements" "$model")
peers=$($py bench/kernels_peers.py "$elements" "$model")
echo "halfpipe: $ours"
echo "peers:    $peers"
$py - "$ours" "$peers" "$elements" <<'PY'
import json, sys
ours, peers, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
# Bandwidth = bytes read + written per second; memcpy moves 4n in and 4n out, the cast 4n in, 2n out.
conv_bw = (4 * n + 2 * n) / ours["f32_to_f16_ms"]
memcpy_bw = (8 * n) / ours["memcpy_f32_ms"]
ours_io = ours["model_load_ms"] + ours["model_save_ms"]
peers_io = peers["onnx_load_ms"] + peers["onnx_save_ms"]
print(f"f32→f16: {ours['f32_to_f16_ms']:.1f} ms ({conv_bw / 1e6:.1f} GB/s, {ours['isa']}); memcpy {ours['memcpy_f32_ms']:.1f} ms "
      f"({memcpy_bw / 1e6:.1f} GB/s); numpy astype {peers['numpy_astype_f16_ms']:.1f} ms; f16→f32 {ours['f16_to_f32_ms']:.1f} ms")
print(f"model load+save: ours {ours['model_load_ms']:.1f}+{ours['model_save_ms']:.1f} ms, "
      f"python onnx {peers['onnx_load_ms']:.1f}+{peers['onnx_save_ms']:.1f} ms")
print(json.dumps({"bench": "kernels",
                  "f32_to_f16_vs_memcpy": round(conv_bw / memcpy_bw, 3),
                  "f32_to_f16_vs_numpy": round(peers["numpy_astype_f16_ms"] / ours["f32_to_f16_ms"], 2),
                  "model_io_vs_python_onnx": round(peers_io / ours_io, 2)}))
PY
