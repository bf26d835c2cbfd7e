"""NudeNet's own pipeline as the reference for a held-out detector (its wheel's YOLOv8n,
320n.onnx, an Ultralytics export with a symbolic input size), against `halfpipe detect` JSON lines.

    python bench/heldout_nudenet.py WHEEL_DIR MODEL OURS.jsonl PICTURES_DIR

The reference is NudeNet's `_read_image` (pad to a square at the bottom-right with 0, resize to
320, RGB, /255) and ONNX Runtime run, decoded as its `_postprocess` does (score 0.2, cv2 NMSBoxes
at 0.25 / 0.45, class-agnostic) but without its int() truncation of the boxes. Prints one JSON line:
reference boxes, ours matched to them (same label, IoU >= 0.5), ours unmatched, IoU median/min.
"""
import glob
import json
import os
import sys

import cv2
import numpy as np


def main(wheel, model, ours_jsonl, pictures):
    sys.path.insert(0, wheel)
    import nudenet.nudenet as nn
    from nudenet import NudeDetector
    detector = NudeDetector(model_path=model)
    labels = [v for k, v in vars(nn).items() if k.endswith("labels")][0]

    def reference(path):
        blob, _, _, x_pad, _, width, height = nn._read_image(path, 320)
        out = np.transpose(np.squeeze(detector.onnx_session.run(None, {detector.input_name: blob})[0]))
        boxes, scores, classes = [], [], []
        factor = (width + x_pad) / 320.0
        for row in out:
            score = row[4:].max()
            if score < 0.2:
                continue
            x, y, w, h = row[:4]
            x, y, w, h = (x - w / 2) * factor, (y - h / 2) * factor, w * factor, h * factor
            x, y = max(0, min(x, width)), max(0, min(y, height))
            w, h = min(w, width - x), min(h, height - y)
            boxes.append([float(x), float(y), float(w), float(h)])
            scores.append(float(score))
            classes.append(int(row[4:].argmax()))
        keep = cv2.dnn.NMSBoxes(boxes, scores, 0.25, 0.45)
        return [(labels[classes[i]], [boxes[i][0], boxes[i][1], boxes[i][0] + boxes[i][2], boxes[i][1] + boxes[i][3]]) for i in keep]

    def iou(a, b):
        x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
        inter = max(0, x2 - x1) * max(0, y2 - y1)
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)

    ours = {}
    for line in open(ours_jsonl):
        record = json.loads(line)
        ours[os.path.basename(record["source"])] = record["detections"]
    total = matched = unmatched = 0
    ious = []
    for path in sorted(glob.glob(os.path.join(pictures, "*"))):
        mine = ours.get(os.path.basename(path), [])
        used = set()
        for label, box in reference(path):
            total += 1
            best = max(((iou(box, m["box"]), j) for j, m in enumerate(mine) if m["label"] == label and j not in used), default=(0, -1))
            if best[0] >= 0.5:
                matched += 1
                used.add(best[1])
                ious.append(best[0])
        unmatched += len(mine) - len(used)
    print(json.dumps({"reference_boxes": total, "matched": matched, "unmatched_ours": unmatched,
                      "median_iou": round(float(np.median(ious)), 4) if ious else None,
                      "min_iou": round(float(min(ious)), 4) if ious else None}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
