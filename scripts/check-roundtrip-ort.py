"""Checks that models saved by HalfPipe behave exactly like the originals in ONNX Runtime.

Usage: check-roundtrip-ort.py ORIGINAL_NODE_DIR SAVED_NODE_DIR
       check-roundtrip-ort.py --pairs ORIGINAL SAVED [ORIGINAL SAVED ...]

For node tests, each saved test folder holds model.onnx; the inputs are the test's own
test_data_set_0/input_*.pb. For pairs (real models), inputs are random with a fixed seed.
Checks: onnx's canonical (deterministic) serialisation is equal; ORT loads both or neither;
outputs are bit-identical (NaN where NaN). Exit 1 on any difference.
"""
import glob, os, sys
import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort

ort.set_default_logger_severity(4)
VERBOSE = False


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"]), None
    except Exception as e:  # noqa: BLE001 - ORT raises many types; we compare outcomes
        return None, type(e).__name__


def random_feed(sess):
    rng = np.random.default_rng(0)
    feed = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) else (1 if i == 0 else 64) for i, d in enumerate(inp.shape)]
        if "int64" in inp.type:
            if "mask" in inp.name:
                feed[inp.name] = np.ones(shape, np.int64)
            elif "type" in inp.name:
                feed[inp.name] = np.zeros(shape, np.int64)
            else:
                feed[inp.name] = rng.integers(0, 100, shape).astype(np.int64)
        elif "float16" in inp.type:
            feed[inp.name] = rng.standard_normal(shape).astype(np.float16)
        else:
            feed[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return feed


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if a is None:
        return True
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        # Compare bits, so NaN payloads and signed zeros count too.
        return bool(np.array_equal(np.ascontiguousarray(a).reshape(-1).view(np.uint8), np.ascontiguousarray(b).reshape(-1).view(np.uint8)))
    return bool(np.array_equal(a, b))


def compare(original, saved, feed_for):
    if onnx.load(original).SerializeToString(deterministic=True) != onnx.load(saved).SerializeToString(deterministic=True):
        return "canonical serialisation differs"
    s1, e1 = session(original)
    s2, e2 = session(saved)
    if (s1 is None) != (s2 is None):
        return f"ORT loads one but not the other ({e1} vs {e2})"
    if s1 is None:
        return "load-error"
    feed = feed_for(s1)
    try:
        r1 = s1.run(None, feed)
    except Exception as e:  # noqa: BLE001
        r1 = type(e).__name__
    try:
        r2 = s2.run(None, feed)
    except Exception as e:  # noqa: BLE001
        r2 = type(e).__name__
    if isinstance(r1, str) or isinstance(r2, str):
        if r1 == r2:
            if VERBOSE:
                print(f"  note: ORT cannot run {original} on these inputs ({r1}), original and saved alike")
            return "run-error"
        return f"run outcome differs ({r1} vs {r2})"
    return None if same(r1, r2) else "outputs differ"


def node_feed(test_dir):
    def feed_for(sess):
        names = [i.name for i in sess.get_inputs()]
        feed = {}
        files = sorted(glob.glob(os.path.join(test_dir, "test_data_set_0", "input_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
        model = onnx.load(os.path.join(test_dir, "model.onnx"), load_external_data=False)
        declared = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        for name, path in zip(declared, files):
            if name not in names:
                continue
            raw = open(path, "rb").read()
            for kind in (onnx.TensorProto, onnx.SequenceProto, onnx.OptionalProto):
                msg = kind()
                try:
                    msg.ParseFromString(raw)
                    feed[name] = onnx.numpy_helper.to_array(msg) if kind is onnx.TensorProto else (
                        onnx.numpy_helper.to_list(msg) if kind is onnx.SequenceProto else onnx.numpy_helper.to_optional(msg))
                    break
                except Exception:  # noqa: BLE001
                    continue
        return feed
    return feed_for


def main(argv):
    failures, counts = [], {"identical": 0, "load-error": 0, "run-error": 0}
    global VERBOSE
    if argv[0] == "--pairs":
        VERBOSE = True
        items = [(argv[i], argv[i + 1], random_feed) for i in range(1, len(argv), 2)]
    else:
        orig_root, saved_root = argv
        items = [(os.path.join(orig_root, t, "model.onnx"), os.path.join(saved_root, t, "model.onnx"), node_feed(os.path.join(orig_root, t)))
                 for t in sorted(os.listdir(saved_root))]
    for original, saved, feed_for in items:
        verdict = compare(original, saved, feed_for)
        if verdict is None:
            counts["identical"] += 1
        elif verdict in counts:
            counts[verdict] += 1
        else:
            failures.append(f"{original}: {verdict}")
    print(f"ORT round trip: {len(items)} models, {counts['identical']} with identical outputs, "
          f"{counts['run-error']} fail to run identically in both, {counts['load-error']} ORT cannot load (either copy), "
          f"{len(failures)} differ")
    for f in failures[:50]:
        print("  DIFF", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
