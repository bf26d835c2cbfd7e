#!/usr/bin/env bash
# make bench-preprocess: the seed's workload (3 x 900x1200x3 uint8 -> 3x3x640x640 float16 letterbox,
# pad 114, bilinear; and -> 3x3x900x1200 float16 without resizing) through HalfPipe, the seed's
# numpy code and OpenCV, plus decoding a folder of real JPEGs — all in the same run. The last line
# is one JSON object of the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
input=.cache/bench/seed-batch-900x1200.npy
jpegs=/usr/share/doc/opencv-doc/examples/data
mkdir -p .cache/bench
# Three real photos brought to the seed's 900x1200 (RGB), so both sides work on real pixels.
$py - "$input" <<'PY'
import sys, os, cv2, numpy as np
paths = ["/usr/share/doc/opencv-doc/examples/data/" + n for n in ("messi5.jpg", "fruits.jpg", "baboon.jpg")]
imgs = []
for p in paths:
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    if im is None: sys.exit(f"bench: cannot read {p} (apt-get install opencv-doc)")
    imgs.append(cv2.cvtColor(cv2.resize(im, (1200, 900), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
np.save(sys.argv[1] + ".part.npy", np.stack(imgs))
os.replace(sys.argv[1] + ".part.npy", sys.argv[1])
PY
echo "input: $input (3 x 900x1200x3 uint8), JPEG folder: $jpegs, $(nproc) cores"
ours=$(.build/release/halfpipe-bench preprocess "$input" "$jpegs")
peers=$($py bench/preprocess_peers.py "$input" "$jpegs")
echo "halfpipe: $ours"
echo "peers:    $peers"
$py - "$ours" "$peers" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
lb, nr, floor = o["letterbox_f16_ms"], o["noresize_f16_ms"], o["memcpy_floor_ms"]
moved_lb = 3 * 900 * 1200 * 3 + 3 * 3 * 640 * 640 * 2
print(f"kernels: {o['kernels']}, {o['threads']} threads")
print(f"letterbox 640 fp16: ours {lb:.3f} ms ({moved_lb / lb / 1e6:.1f} GB/s) | numpy seed {p['numpy_seed_letterbox_ms']:.2f} ms "
      f"| OpenCV blobFromImagesWithParams+astype {p['opencv_letterbox_f16_ms']:.2f} ms (f32 only {p['opencv_letterbox_f32_ms']:.2f})")
print(f"no resize fp16:     ours {nr:.3f} ms ({o['noresize_bytes_moved'] / nr / 1e6:.1f} GB/s) | memcpy floor {floor:.3f} ms "
      f"(memcpy of the {o['read_bytes'] / 1e6:.1f} MB input into the batch + memset of the other {(o['written_bytes'] - o['read_bytes']) / 1e6:.1f} MB) "
      f"| numpy seed {p['numpy_seed_noresize_ms']:.2f} ms "
      f"| OpenCV blobFromImages+astype {p['opencv_noresize_f16_ms']:.2f} ms")
print(f"decode {o['decode_files']} JPEGs ({o['decode_pixels'] / 1e6:.1f} Mpixel): ours {o['decode_folder_ms']:.1f} ms "
      f"| cv2.imread {p['opencv_imread_folder_ms']:.1f} ms | Pillow {p['pillow_decode_folder_ms']:.1f} ms")
print(json.dumps({"bench": "preprocess",
                  "letterbox_vs_numpy": round(p["numpy_seed_letterbox_ms"] / lb, 2),
                  "letterbox_vs_opencv": round(p["opencv_letterbox_f16_ms"] / lb, 2),
                  "noresize_vs_memcpy_floor": round(nr / floor, 3),
                  "noresize_vs_numpy": round(p["numpy_seed_noresize_ms"] / nr, 2),
                  "decode_vs_opencv_imread": round(p["opencv_imread_folder_ms"] / o["decode_folder_ms"], 2)}))
PY
