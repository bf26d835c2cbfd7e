"""Python onnxruntime's side of `make bench-ort`: the same model, input and thread count as
`halfpipe bench`, timed the same way (warm-up, then per-run wall time). Prints one JSON line."""
import json, sys, time
import numpy as np
import onnxruntime as ort

model, feed_path, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
feed = dict(np.load(feed_path))
for _ in range(10):
    sess.run(None, feed)
times = []
for _ in range(runs):
    t = time.perf_counter()
    sess.run(None, feed)
    times.append((time.perf_counter() - t) * 1e3)
times.sort()
print(json.dumps({"p50Ms": times[len(times) // 2], "p90Ms": times[int(0.9 * (len(times) - 1))]}))
