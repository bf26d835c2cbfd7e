#!/usr/bin/env python3
"""Compares two `halfpipe detect` JSON-lines outputs frame by frame, matching frames by source file
(the second may hold the pictures many times over): same box count, each box paired greedily with
its best-IoU partner of the same class. Prints one JSON object."""
import json, sys


def load(path):
    frames = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                frames.append(json.loads(line))
    return frames


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 1.0


def main():
    reference = {f["source"]: f for f in load(sys.argv[1])}
    ours = load(sys.argv[2])
    min_iou = float(sys.argv[3]) if len(sys.argv) > 3 else 0.99
    frames = count_mismatch = boxes = unmatched = class_mismatch = 0
    worst = 1.0
    for frame in ours:
        ref = reference.get(frame["source"])
        if ref is None:
            continue
        frames += 1
        a, b = frame["detections"], ref["detections"]
        if len(a) != len(b):
            count_mismatch += 1
        free = list(range(len(a)))
        for d in b:
            best = max(free, key=lambda i: iou(a[i]["box"], d["box"]), default=None)
            if best is None:
                unmatched += 1
                continue
            free.remove(best)
            v = iou(a[best]["box"], d["box"])
            worst = min(worst, v)
            if a[best]["class"] != d["class"]:
                class_mismatch += 1
            boxes += 1
    ok = frames > 0 and count_mismatch == 0 and unmatched == 0 and class_mismatch == 0 and worst >= min_iou
    print(json.dumps({"frames": frames, "boxes": boxes, "count_mismatches": count_mismatch, "unmatched": unmatched,
                      "class_mismatches": class_mismatch, "worst_iou": round(worst, 6), "same": ok}))


if __name__ == "__main__":
    main()
