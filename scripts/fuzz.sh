#!/usr/bin/env bash
# Runs the libFuzzer targets for SECONDS each: the model loader (seeded with small real models) and
# the frame path of `detect` (image decoders, preprocessing, head decoders, NMS, mapping; seeded
# with the small real pictures of opencv-doc and scikit-image).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
# gold crashes linking libFuzzer into Swift binaries; the toolchain's own lld links them fine.
lld="$(dirname "$(readlink -f "$(command -v swiftc)")")/ld.lld"
[ -x "$lld" ] || { echo "fuzz: no ld.lld beside swiftc ($lld)" >&2; exit 1; }
mkdir -p .build-fuzz .cache/fuzz-crashes
printf '{"schemaVersion": "1.0", "linker": {"path": "%s"}}\n' "$lld" > .build-fuzz/toolset.json
for product in halfpipe-fuzz-loader halfpipe-fuzz-frames; do
  swift build -c release --product $product --scratch-path .build-fuzz --toolset .build-fuzz/toolset.json \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING 2>&1 | { grep -v warning || true; } | tail -2
done

corpus=.cache/fuzz-corpus
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
  # Every node-test model under 4 KB: varied, valid starting points.
  find .cache/material/onnx-tests/node -name model.onnx -size -4k | head -400 | while read -r f; do
    cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-16).onnx"
  done
fi
frames=.cache/fuzz-corpus-frames
mkdir -p "$frames"
if [ -z "$(ls -A "$frames")" ]; then
  # Real JPEG and PNG files under 64 KB, whole: every marker and chunk type they use.
  find /usr/share/doc/opencv-doc/examples/data .cache/material/images -size -64k \( -name '*.jpg' -o -name '*.png' \) | while read -r f; do
    cp "$f" "$frames/$(echo "$f" | md5sum | cut -c1-16).${f##*.}"
  done
fi
for target in "halfpipe-fuzz-loader $corpus" "halfpipe-fuzz-frames $frames"; do
  set -- $target
  echo "== $1 ($(ls "$2" | wc -l) seeds, $seconds s)"
  # Swift's own backtracer would wait on a crash; libFuzzer reports it and keeps the input.
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 ".build-fuzz/release/$1" "$2" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
    -timeout=10 -artifact_prefix=.cache/fuzz-crashes/ -print_final_stats=1 2>&1 | tail -12
done
