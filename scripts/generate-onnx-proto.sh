#!/usr/bin/env bash
# Regenerates Sources/ONNX/Generated/onnx.pb.swift from the onnx.proto shipped in the onnx wheel.
# Needs protoc (Debian: protobuf-compiler) and swift-protobuf's protoc-gen-swift, which this script
# builds once into .build-protoc (about 1.5–10 minutes); the output is committed, so ordinary
# builds never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "generate: protoc missing — apt-get install protobuf-compiler" >&2; exit 1; }
bash scripts/fetch-test-material.sh >/dev/null
proto=.cache/material/onnx.proto
plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
  src=.build-protoc/swift-protobuf
  if [ ! -x "$src/.build/release/protoc-gen-swift" ]; then
    rm -rf "$src"; mkdir -p .build-protoc
    git clone -q --branch 1.39.0 https://github.com/apple/swift-protobuf "$src"
    (cd "$src" && swift build -c release --product protoc-gen-swift)
  fi
  plugin=$src/.build/release/protoc-gen-swift
fi
out=$(mktemp -d)
cp "$proto" "$out/onnx.proto"
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$out" \
  --swift_opt=Visibility=Public --swift_out="$out" "$out/onnx.proto"
# HalfPipe builds on Linux with FoundationEssentials only (full Foundation would add ~50 MB to the
# static binary): replace the plugin's Foundation fallback with a plain FoundationEssentials import.
python3 - "$out/onnx.pb.swift" <<'PY'
import sys
path = sys.argv[1]
block = "#if canImport(FoundationEssentials)\nimport FoundationEssentials\n#else\nimport Foundation\n#endif\n"
text = open(path).read()
if block not in text:
    sys.exit("generate: the plugin's import block changed; update scripts/generate-onnx-proto.sh")
open(path, "w").write(text.replace(block, "import FoundationEssentials\n"))
PY
mv "$out/onnx.pb.swift" Sources/ONNX/Generated/onnx.pb.swift
rm -rf "$out"
echo "generate: Sources/ONNX/Generated/onnx.pb.swift from onnx==1.22.0 onnx.proto"
