#!/usr/bin/env bash
# Runs the libFuzzer model-loader target for SECONDS, seeded with small real models.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
# gold crashes linking libFuzzer into Swift binaries; the toolchain's own lld links them fine.
lld="$(dirname "$(readlink -f "$(command -v swiftc)")")/ld.lld"
[ -x "$lld" ] || { echo "fuzz: no ld.lld beside swiftc ($lld)" >&2; exit 1; }
mkdir -p .build-fuzz
printf '{"schemaVersion": "1.0", "linker": {"path": "%s"}}\n' "$lld" > .build-fuzz/toolset.json
swift build -c release --product halfpipe-fuzz-loader --scratch-path .build-fuzz --toolset .build-fuzz/toolset.json \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING 2>&1 | { grep -v warning || true; } | tail -2
corpus=.cache/fuzz-corpus
mkdir -p "$corpus" .cache/fuzz-crashes
if [ -z "$(ls -A "$corpus")" ]; then
  # Every node-test model under 4 KB plus the smallest real model: varied, valid starting points.
  find .cache/material/onnx-tests/node -name model.onnx -size -4k | head -400 | while read -r f; do
    cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-16).onnx"
  done
fi
bin=.build-fuzz/release/halfpipe-fuzz-loader
ASAN_OPTIONS=detect_leaks=0 "$bin" "$corpus" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
  -timeout=10 -artifact_prefix=.cache/fuzz-crashes/ -print_final_stats=1 2>&1 | tail -25
