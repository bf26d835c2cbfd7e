#!/usr/bin/env bash
# Installs everything HalfPipe's build, tests and benchmarks need on a fresh Debian machine.
# Idempotent: each step is skipped when what it installs is already there, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: zlib (npz deflate), libjpeg-turbo and libpng (decoding), opencv-doc (test images and
# videos), GStreamer with its base, good and libav plugins (video in and out for `detect`, loaded at run
# time), xz (the GPU machine's binary travels compressed). protoc is only needed to regenerate the ONNX bindings.
apt_packages=(zlib1g-dev libturbojpeg0-dev libpng-dev opencv-doc libgstreamer1.0-0 libgstreamer-plugins-base1.0-0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav xz-utils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python peers and reference implementations, pinned, in the project's own .venv.
requirements=scripts/requirements.txt
stamp=.venv/.requirements.sha
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
echo "setup: ok"
