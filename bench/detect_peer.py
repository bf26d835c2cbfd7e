"""The straightforward Python detection pipeline a new user writes for ddddocr's YOLOX-style
detector (common_det.onnx), and the reference HalfPipe's detections are checked against.

  pipeline   OpenCV capture -> numpy/cv2 letterbox -> ONNX Runtime -> numpy decode + cv2 NMS,
             each stage timed per frame; last stdout line: one JSON object of the figures.
  reference  the same decode + NMS for still images (optionally fed a preprocessed batch .npy).
  compare    HalfPipe's per-image JSON lines against a reference JSON; exit 1 on any mismatch.

Conventions follow ddddocr 1.6.1 (ddddocr/core/detection_engine.py): letterbox at the top-left
on 114 grey, BGR, float32 0-255, score = obj * cls kept when > score threshold, NMS on the
unclipped boxes in original pixels, then clipping to the frame. Unlike ddddocr, the NMS here is
OpenCV's (IoU without ddddocr's "+1" pixel areas) and boxes stay floats instead of int().
"""
import argparse, json, os, sys, time
import cv2
import numpy as np
import onnxruntime as ort

SIZE = 416
STRIDES = (8, 16, 32)


def _grid():
    """Per output cell (52x52, then 26x26, then 13x13, row-major): its (x, y) cell index and stride."""
    cells, strides = [], []
    for s in STRIDES:
        n = SIZE // s
        ys, xs = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


GRID, GRID_STRIDE = _grid()


def ratio(h, w):
    return min(SIZE / h, SIZE / w)


def preprocess(img):
    """BGR uint8 HxWx3 -> float32 [1,3,416,416] letterboxed at the top-left, and the scale r."""
    h, w = img.shape[:2]
    r = ratio(h, w)
    nw, nh = int(w * r), int(h * r)  # int() truncates, as ddddocr/YOLOX do
    canvas = np.full((SIZE, SIZE, 3), 114, np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32), r


def nms(xyxy, scores, classes, iou):
    """Class-aware NMS; returns kept indices. OpenCV wants [x, y, width, height] boxes."""
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1).astype(np.float64)
    if hasattr(cv2.dnn, "NMSBoxesBatched"):
        # score threshold 0: the scores were already filtered (strictly) before the NMS
        return np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores, classes, 0.0, iou), np.int64).ravel()
    keep = []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        keep.extend(idx[np.asarray(cv2.dnn.NMSBoxes(xywh[idx], scores[idx], 0.0, iou), np.int64).ravel()])
    return np.asarray(keep, np.int64)


def postprocess(out, r, w, h, score_thr, iou_thr):
    """Raw [1,3549,6] output -> detections in original pixels, sorted by descending score."""
    p = out[0]
    cls_scores = p[:, 4:5] * p[:, 5:]  # obj * cls (sigmoids are inside the graph)
    classes = cls_scores.argmax(1).astype(np.int32)
    scores = cls_scores[np.arange(len(p)), classes]
    m = scores > score_thr  # filter first: decoding 3549 cells to use a handful is wasted work
    p, classes, scores = p[m], classes[m], scores[m].astype(np.float32)
    centre = (p[:, :2] + GRID[m]) * GRID_STRIDE[m]
    half = np.exp(p[:, 2:4]) * GRID_STRIDE[m] / 2
    xyxy = np.concatenate([centre - half, centre + half], 1) / r
    keep = nms(xyxy, scores, classes, iou_thr) if len(scores) else np.zeros(0, np.int64)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    # clip after NMS, as ddddocr does
    boxes = np.clip(xyxy[keep], 0, [w, h, w, h])
    return [{"box": [round(float(v), 3) for v in b], "class": int(classes[k]), "score": round(float(scores[k]), 6)}
            for b, k in zip(boxes, keep)]


def session(model):
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def cmd_pipeline(a):
    sess = session(a.model)
    name = sess.get_inputs()[0].name
    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        sys.exit(f"cannot open {a.video}")
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 0.0
    out = open(a.out, "w") if a.out else None
    stages = np.zeros(4)  # decode, preprocess, inference, postprocess: seconds over timed frames
    timed, wall_start, i = 0, None, 0
    while a.frames is None or i < a.frames:
        if i == a.warmup:
            wall_start = time.perf_counter()
        t0 = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            break
        t1 = time.perf_counter()
        # read after cap.read(): with the FFmpeg backend, before it the value is the PREVIOUS
        # frame's time (0, 0, 0.1, 0.2, ...), after it the time of the frame just decoded
        pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        x, r = preprocess(frame)
        t2 = time.perf_counter()
        y = sess.run(None, {name: x})[0]
        t3 = time.perf_counter()
        h, w = frame.shape[:2]
        dets = postprocess(y, r, w, h, a.score, a.iou)
        t4 = time.perf_counter()
        if i >= a.warmup:
            stages += (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
            timed += 1
        if out:
            # backends without timestamps report 0 for every frame: fall back to index / rate
            ts = pos_ms / 1000 if pos_ms > 0 or i == 0 else (i / fps_in if fps_in else None)
            ts = round(ts, 6) if ts is not None else None
            out.write(json.dumps({"frame": i, "timestamp": ts, "width": w, "height": h, "detections": dets}) + "\n")
        i += 1
    wall = time.perf_counter() - wall_start if wall_start is not None and timed else 0.0
    if out:
        out.close()
    ms = [round(float(v), 3) for v in stages / timed * 1e3] if timed else [None] * 4  # no NaN in JSON
    res = {"tool": "python-peer", "frames": timed, "warmup": min(i, a.warmup),
           "fps": round(timed / wall, 2) if wall else None,
           "decode_ms": ms[0], "preprocess_ms": ms[1], "inference_ms": ms[2], "postprocess_ms": ms[3],
           "total_ms_per_frame": round(wall / timed * 1e3, 3) if timed else None}
    print(f"{i} frames ({timed} timed after {res['warmup']} warm-up) of {a.video}: {res['fps']} FPS\n"
          f"  decode {ms[0]} ms, preprocess {ms[1]} ms, inference {ms[2]} ms, "
          f"postprocess {ms[3]} ms; wall {res['total_ms_per_frame']} ms/frame", file=sys.stderr)
    print(json.dumps(res))


def cmd_reference(a):
    sess = session(a.model)
    name = sess.get_inputs()[0].name
    batch = np.load(a.batch) if a.batch else None
    if batch is not None and (batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != (3, SIZE, SIZE)
                              or batch.shape[0] < len(a.images)):
        sys.exit(f"--batch: want float32 [N>={len(a.images)},3,{SIZE},{SIZE}], got {batch.dtype} {list(batch.shape)}")
    images = []
    for k, path in enumerate(a.images):
        img = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR; drops alpha, expands grey
        if img is None:
            sys.exit(f"cannot read {path}")
        h, w = img.shape[:2]
        x, r = (np.ascontiguousarray(batch[k:k + 1]), ratio(h, w)) if batch is not None else preprocess(img)
        dets = postprocess(sess.run(None, {name: x})[0], r, w, h, a.score, a.iou)
        images.append({"path": path, "width": w, "height": h, "detections": dets})
        print(f"{path}: {w}x{h}, {len(dets)} boxes", file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump({"images": images}, f, indent=1)


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float(a == b)


def cmd_compare(a):
    with open(a.ref) as f:
        ref = json.load(f)["images"]
    with open(a.ours) as f:
        ours = [json.loads(line) for line in f if line.strip()]
    by_path = {r["path"]: r for r in ref}
    by_base = {os.path.basename(r["path"]): r for r in ref}
    seen, problems, boxes, min_iou, max_dscore = set(), [], 0, 1.0, 0.0
    for o in ours:
        src = o.get("source")
        r = by_path.get(src) or by_base.get(os.path.basename(src or ""))
        if r is None:
            problems.append(f"{src}: not in the reference")
            continue
        seen.add(r["path"])
        od, rd = o["detections"], sorted(r["detections"], key=lambda d: -d["score"])
        if len(od) != len(rd):
            problems.append(f"{src}: {len(od)} boxes, reference {len(rd)}")
            continue
        free = list(range(len(od)))
        for d in rd:  # greedy, by descending reference score: the best-overlapping free box of its class
            cands = [(iou(d["box"], od[j]["box"]), j) for j in free if od[j]["class"] == d["class"]]
            best, j = max(cands) if cands else (0.0, None)
            min_iou = min(min_iou, best)
            if j is None or best < a.min_iou:
                problems.append(f"{src}: reference box {d['box']} (score {d['score']:.4f}) best IoU {best:.4f}")
                continue
            free.remove(j)
            boxes += 1
            max_dscore = max(max_dscore, abs(od[j]["score"] - d["score"]))
    problems += [f"{r['path']}: missing from {a.ours}" for r in ref if r["path"] not in seen]
    for p in problems:
        print("MISMATCH " + p, file=sys.stderr)
    res = {"images": len(seen), "boxes": boxes, "min_iou": round(min_iou, 6),
           "max_score_diff": round(max_dscore, 6), "mismatches": len(problems), "ok": not problems}
    print(f"{res['images']} images, {boxes} boxes matched, min IoU {min_iou:.6f}, "
          f"max score diff {max_dscore:.2e}, {len(problems)} mismatches")
    print(json.dumps(res))
    sys.exit(1 if problems else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pipeline", help="time capture/preprocess/ORT/postprocess over a video")
    p.add_argument("--model", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--frames", type=int, default=None, help="default: all")
    p.add_argument("--warmup", type=int, default=5, help="frames processed but left out of the figures")
    p.add_argument("--out", help="per-frame detections as JSON lines")
    r = sub.add_parser("reference", help="detections for still images")
    r.add_argument("--model", required=True)
    r.add_argument("--batch", help="float32 [N,3,416,416] .npy fed instead of cv2 preprocessing")
    r.add_argument("--out", required=True)
    r.add_argument("images", nargs="+")
    for q in (p, r):
        q.add_argument("--score", type=float, default=0.1)
        q.add_argument("--iou", type=float, default=0.45)
    c = sub.add_parser("compare", help="per-image JSON lines (with 'source') against a reference JSON")
    c.add_argument("ours")
    c.add_argument("ref")
    c.add_argument("--min-iou", type=float, default=0.99)
    a = ap.parse_args()
    {"pipeline": cmd_pipeline, "reference": cmd_reference, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
