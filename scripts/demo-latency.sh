#!/usr/bin/env bash
# FP32, FP16 and INT8 latency of one model side by side, measured in turn by `halfpipe bench`
# (same inputs, one thread, the ratios against FP32). usage: demo-latency.sh BIN FP32 FP16 INT8 [bench options…]
set -euo pipefail
bin=$1 fp32=$2 fp16=$3 int8=$4
shift 4
p50() { local model=$1; shift; "$bin" bench "$model" --json "$@" | sed -n 's/.*"p50Ms" *: *\([0-9.eE+-]*\).*/\1/p'; }
a=$(p50 "$fp32" "$@"); b=$(p50 "$fp16" "$@"); c=$(p50 "$int8" "$@")
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
  printf "latency p50 (ONNX Runtime, CPU): FP32 %.2f ms | FP16 %.2f ms (%.2fx FP32) | INT8 %.2f ms (%.2fx FP32)\n", a, b, b / a, c, c / a }'
