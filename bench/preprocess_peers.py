#!/usr/bin/env python3
"""Time HalfPipe's peers on the seed workload and print one JSON line (milliseconds).

Usage: preprocess_peers.py INPUT.npy DECODE_DIR

INPUT.npy   uint8 [3, 900, 1200, 3], RGB HWC images
DECODE_DIR  folder whose *.jpg files are decoded by OpenCV and Pillow

stdout carries only the JSON line; progress goes to stderr.
"""
import glob
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
from PIL import Image

RUNS, WARMUPS = 20, 2
FOLDER_PASSES, FOLDER_WARMUPS = 5, 1
PAD = 114 / 255.0


def die(msg):
    sys.exit(f"preprocess_peers: error: {msg}")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median_ms(fn, runs=RUNS, warmups=WARMUPS):
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def downscale_image_keeping_aspect_ratio(im, size_hw):
    # Ultralytics-style rounding, as in the seed
    h_o, w_o = size_hw
    h, w = im.shape[:2]
    r = min(h_o / h, w_o / w)
    return cv2.resize(im, (int(round(w * r)), int(round(h * r))), interpolation=cv2.INTER_LINEAR)


def seed_preprocess(input_batch, output_batch, downscale):
    """The seed's numpy code, verbatim apart from the pluggable downscale."""
    h_o, w_o = output_batch.shape[2], output_batch.shape[3]
    input_batch = np.stack([downscale(im, (h_o, w_o)) for im in input_batch])
    input_batch = input_batch.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    input_batch = input_batch.astype(np.float32) * (1 / 255.0)
    h, w = input_batch.shape[2], input_batch.shape[3]
    pad_height = (h_o - h) // 2
    pad_width = (w_o - w) // 2
    bi = input_batch.shape[0]
    output_batch[:bi, :, pad_height : pad_height + h, pad_width : pad_width + w] = input_batch.astype(output_batch.dtype)


def letterbox_params():
    p = cv2.dnn.Image2BlobParams()
    p.scalefactor = (1 / 255,) * 4
    p.size = (640, 640)
    p.mean = (0, 0, 0, 0)
    p.swapRB = False  # input is already RGB
    p.ddepth = cv2.CV_32F
    p.datalayout = cv2.DNN_LAYOUT_NCHW
    p.paddingmode = cv2.dnn.DNN_PMODE_LETTERBOX
    p.borderValue = (114, 114, 114, 0)
    return p


def time_folder(files, decode):
    # one sample = one full pass over the folder
    return median_ms(lambda: [decode(p) for p in files], FOLDER_PASSES, FOLDER_WARMUPS)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    input_path, decode_dir = sys.argv[1], sys.argv[2]
    if not os.path.isfile(input_path):
        die(f"missing input: {input_path}")
    if not os.path.isdir(decode_dir):
        die(f"missing decode folder: {decode_dir}")
    batch = np.load(input_path)
    if batch.dtype != np.uint8 or batch.shape != (3, 900, 1200, 3):
        die(f"expected uint8 [3,900,1200,3], got {batch.dtype} {list(batch.shape)}")
    files = sorted(glob.glob(os.path.join(decode_dir, "*.jpg")))
    if not files:
        die(f"no .jpg files in {decode_dir}")

    images = [batch[i] for i in range(batch.shape[0])]
    res = {"opencv_threads": cv2.getNumThreads()}  # OpenCV's default threading, untouched

    out640 = np.full((3, 3, 640, 640), PAD, np.float16)
    log("numpy seed letterbox")
    res["numpy_seed_letterbox_ms"] = median_ms(
        lambda: seed_preprocess(batch, out640, downscale_image_keeping_aspect_ratio))
    out_full = np.full((3, 3, 900, 1200), PAD, np.float16)
    log("numpy seed no resize")
    res["numpy_seed_noresize_ms"] = median_ms(
        lambda: seed_preprocess(batch, out_full, lambda im, size: im))

    params = letterbox_params()
    log("opencv letterbox")
    res["opencv_letterbox_f16_ms"] = median_ms(
        lambda: cv2.dnn.blobFromImagesWithParams(images, params).astype(np.float16))
    res["opencv_letterbox_f32_ms"] = median_ms(
        lambda: cv2.dnn.blobFromImagesWithParams(images, params))
    log("opencv no resize")
    res["opencv_noresize_f16_ms"] = median_ms(
        lambda: cv2.dnn.blobFromImages(images, 1 / 255).astype(np.float16))

    def cv_read(p):
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            die(f"OpenCV could not read {p}")
        return img

    log(f"decode {len(files)} files")
    res["opencv_imread_folder_ms"] = time_folder(files, cv_read)
    res["pillow_decode_folder_ms"] = time_folder(
        files, lambda p: np.asarray(Image.open(p).convert("RGB")))
    res["imread_files"] = len(files)
    res["imread_pixels"] = sum(int(np.prod(cv_read(p).shape[:2])) for p in files)

    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}))


if __name__ == "__main__":
    main()
