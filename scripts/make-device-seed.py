"""The seed workload for the GPU machine: three real opencv-doc photos brought to 900x1200, as
PNG (what halfpipe decodes there) and as one RGB .npy (what the PyTorch peer loads). Usage:
make-device-seed.py OUTDIR"""
import os, sys
import cv2
import numpy as np

out = sys.argv[1]
paths = ["/usr/share/doc/opencv-doc/examples/data/" + n for n in ("messi5.jpg", "fruits.jpg", "baboon.jpg")]
images = []
for p in paths:
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    if im is None:
        sys.exit(f"make-device-seed: cannot read {p} (apt-get install opencv-doc)")
    images.append(cv2.resize(im, (1200, 900), interpolation=cv2.INTER_AREA))
for i, im in enumerate(images):
    cv2.imwrite(os.path.join(out, f"seed-{i}.png"), im)
np.save(os.path.join(out, "seed.npy"), np.stack([im[..., ::-1] for im in images]))
