#!/usr/bin/env bash
# `make install` into a temporary prefix, then `convert`, `run` and `detect` from another folder
# with a clean environment (no HALFPIPE_ORT_LIBRARY, no .venv in reach): what a user who installed
# halfpipe gets. Then `make uninstall` must leave the prefix empty of it. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
prefix=$(mktemp -d); elsewhere=$(mktemp -d); home=$(mktemp -d)
trap 'rm -rf "$prefix" "$elsewhere" "$home"' EXIT
make --no-print-directory install PREFIX="$prefix" > "$elsewhere/install.log" || { cat "$elsewhere/install.log" >&2; exit 1; }
material=$root/.cache/material
cls=$material/models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx
det=$material/models/ddddocr/common_det.onnx
images=("$material/images/skimage/astronaut.png" "$material/images/skimage/rocket.jpg")
clean() { (cd "$elsewhere" && env -i PATH=/usr/bin:/bin HOME="$home" "$prefix/bin/halfpipe" "$@"); }
clean convert "$cls" -o "$elsewhere/cls-fp16.onnx" --to fp16 > "$elsewhere/convert.txt"
grep -q "run check: ran once in onnxruntime" "$elsewhere/convert.txt" || { cat "$elsewhere/convert.txt" >&2; echo "check-install: convert did not run its result" >&2; exit 1; }
clean run "$elsewhere/cls-fp16.onnx" --random --shape x=1x3x48x192 -o "$elsewhere/out.npz" > /dev/null
clean detect "$det" "${images[@]}" --image-preset yolox416 --score 0.1 -o "$elsewhere/boxes.jsonl" 2> "$elsewhere/detect.txt" \
  || { cat "$elsewhere/detect.txt" >&2; exit 1; }
[ "$(wc -l < "$elsewhere/boxes.jsonl")" = 2 ] || { echo "check-install: detect wrote $(wc -l < "$elsewhere/boxes.jsonl") lines for 2 pictures" >&2; exit 1; }
for f in share/bash-completion/completions/halfpipe share/zsh/site-functions/_halfpipe share/fish/vendor_completions.d/halfpipe.fish; do
  grep -q detect "$prefix/$f" || { echo "check-install: completion $f missing or empty" >&2; exit 1; }
done
make --no-print-directory uninstall PREFIX="$prefix" > /dev/null
left=$(find "$prefix" -type f | wc -l)
[ "$left" = 0 ] || { echo "check-install: uninstall left $left file(s) in $prefix" >&2; find "$prefix" -type f >&2; exit 1; }
echo "check-install: installed, ran convert, run and detect from another folder with a clean environment, uninstalled"
