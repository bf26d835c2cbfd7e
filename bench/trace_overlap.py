#!/usr/bin/env python3
"""Reads a `halfpipe detect --trace` file and measures, on each GPU lane, how much of the device's
postprocessing time ran while an inference of the same lane ran (batch N's NMS under batch N+1's
inference), and how busy the lane's inference was over the run. Prints one JSON object."""
import json, sys
from collections import defaultdict


def main():
    trace = json.load(open(sys.argv[1]))
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("ph") == "M" and e["name"] == "thread_name"}
    spans = defaultdict(list)
    for e in trace["traceEvents"]:
        if e.get("ph") != "X":
            continue
        track = names.get(e["tid"], "")
        if " lane " not in track:
            continue
        lane = track.rsplit(" ", 1)[0]
        spans[(lane, e["name"])].append((e["ts"], e["ts"] + e["dur"]))
    lanes = sorted({k[0] for k in spans})
    post_total = overlapped = 0.0
    busy = []
    for lane in lanes:
        inference = sorted(spans[(lane, "inference")])
        for s, t in spans[(lane, "postprocess")]:
            post_total += t - s
            overlapped += sum(max(0.0, min(t, b) - max(s, a)) for a, b in inference)
        if inference:
            first, last = inference[0][0], max(b for _, b in inference)
            busy.append(sum(b - a for a, b in inference) / (last - first) if last > first else 0)
    print(json.dumps({"lanes": lanes, "postprocess_overlapped_by_inference": round(overlapped / post_total, 4) if post_total else None,
                      "inference_busy": [round(b, 4) for b in busy]}))


if __name__ == "__main__":
    main()
