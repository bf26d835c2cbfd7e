"""Reference runs of Python onnxruntime, for checking HalfPipe's binding against it.

ort-reference.py models OUTDIR MODEL...   For each real model: a seeded random feed (concrete
    shapes), run with 1 intra-op thread and default optimisation; writes OUTDIR/<i>.feed.npz and
    OUTDIR/<i>.out.npz.
ort-reference.py nodetests NODE_DIR OUT.json   For each ONNX node test: does ORT's output match
    the expected output (rtol 1e-3, atol 1e-7, as onnx's backend test runner)? Writes
    {test: "pass" | "mismatch" | "run-error" | "load-error"}.
"""
import glob, json, os, sys
import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort

ort.set_default_logger_severity(4)


def options():
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    return o


def random_feed(sess, rng):
    feed = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) else (1 if i == 0 else 32) for i, d in enumerate(inp.shape)]
        if "int64" in inp.type:
            feed[inp.name] = np.ones(shape, np.int64) if ("mask" in inp.name or "type" in inp.name) else rng.integers(0, 100, shape).astype(np.int64)
        else:
            feed[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return feed


def models(outdir, paths):
    os.makedirs(outdir, exist_ok=True)
    for i, path in enumerate(paths):
        sess = ort.InferenceSession(path, options(), providers=["CPUExecutionProvider"])
        feed = random_feed(sess, np.random.default_rng(i))
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, feed)
        np.savez(os.path.join(outdir, f"{i}.feed.npz"), **feed)
        np.savez(os.path.join(outdir, f"{i}.out.npz"), **dict(zip(names, outs)))


def load_pb(path, type_proto=None):
    """A tensor, or a sequence (list) / optional (value or None) where the model declares one, as
    onnx's backend test runner reads them."""
    data = open(path, "rb").read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return numpy_helper.to_list(s)
    if kind == "optional_type":
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        return numpy_helper.to_optional(o)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def close(g, e):
    if isinstance(e, list) or isinstance(g, list):
        return isinstance(e, list) and isinstance(g, list) and len(g) == len(e) and all(close(a, b) for a, b in zip(g, e))
    if e is None or g is None:
        return e is None and g is None
    if g.shape != e.shape:
        return False
    if g.dtype != e.dtype and g.dtype.itemsize == e.dtype.itemsize:
        g = g.view(e.dtype)  # Python ORT returns float8 outputs as raw uint8 bytes
    if e.dtype.kind in "biuSUO":
        return bool(np.array_equal(g, e))
    if e.dtype.kind == "V" or type(e.dtype).__module__.startswith("ml_dtypes") or e.dtype.name in ("bfloat16",) or "float8" in e.dtype.name:
        # ml_dtypes types: numpy arithmetic in float8 itself is meaningless; compare as float32.
        g, e = np.asarray(g).astype(np.float32), np.asarray(e).astype(np.float32)
    return bool(np.allclose(g, e, rtol=1e-3, atol=1e-7, equal_nan=True))


def nodetests(node_dir, out):
    verdicts = {}
    for test in sorted(os.listdir(node_dir)):
        d = os.path.join(node_dir, test)
        try:
            sess = ort.InferenceSession(os.path.join(d, "model.onnx"), options(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001
            verdicts[test] = "load-error"
            continue
        data = os.path.join(d, "test_data_set_0")
        graph = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False).graph
        initializers = {i.name for i in graph.initializer}
        graph_inputs = [i for i in graph.input if i.name not in initializers]
        def files(prefix):
            return sorted(glob.glob(os.path.join(data, prefix + "_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
        try:
            inputs = [load_pb(p, v.type) for p, v in zip(files("input"), graph_inputs)]
            expected = [load_pb(p, v.type) for p, v in zip(files("output"), graph.output)]
            # An optional input holding None is left out of the feed, as the backend runner does.
            feed = {i.name: x for i, x in zip(graph_inputs, inputs) if x is not None}
            got = sess.run(None, feed)
        except Exception:  # noqa: BLE001
            verdicts[test] = "run-error"
            continue
        ok = len(got) == len(expected) and all(close(g, e) for g, e in zip(got, expected))
        verdicts[test] = "pass" if ok else "mismatch"
    json.dump(verdicts, open(out, "w"), indent=0, sort_keys=True)
    counts = {v: list(verdicts.values()).count(v) for v in sorted(set(verdicts.values()))}
    print(json.dumps(counts))


if __name__ == "__main__":
    if sys.argv[1] == "models":
        models(sys.argv[2], sys.argv[3:])
    else:
        nodetests(sys.argv[2], sys.argv[3])
