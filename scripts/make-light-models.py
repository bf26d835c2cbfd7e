"""Full-size test models for `make bench-convert`, from the ONNX backend "light" models.

The light models keep the model-zoo topologies (alexnet ... zfnet512) but produce every weight at
run time with ConstantOfShape(0.02) from an int64 shape initializer, so the files are a few kB and
a converter has nothing to convert. Here each such weight becomes a real float32 initializer of its
shape, filled with seeded random values scaled like a trained network (He-scaled weights, small
biases, BatchNormalization variances > 0) so the models run and keep their real parameter counts
(vgg19: 144 M parameters, 575 MB).

Usage: make-light-models.py OUTDIR. Models already in OUTDIR are kept (each is written to a temporary
name, checked, then renamed), so a re-run only costs the imports."""
import glob, math, os, sys, time, zlib
import numpy as np
import onnx
from onnx import numpy_helper

SOURCE = ".cache/material/onnx-tests/light/light_*.onnx"


def uses_of(graph, name):
    """(op_type, input index, node) for every consumer; an Unsqueeze is seen through, because
    densenet/inception_v2 unsqueeze their per-channel scale and shift before Mul and Add."""
    out = []
    for node in graph.node:
        for k, i in enumerate(node.input):
            if i == name:
                out += uses_of(graph, node.output[0]) if node.op_type == "Unsqueeze" else [(node.op_type, k, node)]
    return out


def fill(rng, shape, uses):
    op, k, node = uses[0] if uses else ("", 0, None)
    if len(shape) >= 2:
        if op == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            fan_in = shape[1] if trans_b else shape[0]
        elif op == "Conv":
            fan_in = math.prod(shape[1:])
        else:  # inception_v1's classifier weight goes through a Reshape to [1000, 1024]
            fan_in = shape[-1]
        a = rng.standard_normal(shape, dtype=np.float32)
        a *= np.float32(math.sqrt(2.0 / fan_in))  # in place: vgg19's fc6 alone is 411 MB
        return a
    if (op, k) == ("BatchNormalization", 4):  # variance: must stay positive
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if (op, k) == ("BatchNormalization", 1) or op == "Mul":  # scales
        return (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    return (0.01 * rng.standard_normal(shape)).astype(np.float32)  # biases, means, shifts


def materialize(model, seed):
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    shape_sources = set()
    for node in [n for n in g.node if n.op_type == "ConstantOfShape"]:
        src = node.input[0]
        if src in inits:
            shape = numpy_helper.to_array(inits[src])
        elif src in consts:
            shape = numpy_helper.to_array(consts[src].attribute[0].t)
        else:
            continue  # shape computed at run time: not a weight
        arr = fill(rng, [int(d) for d in shape], uses_of(g, node.output[0]))
        g.initializer.append(numpy_helper.from_array(arr, node.output[0]))
        g.node.remove(node)
        shape_sources.add(src)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for name in shape_sources - used:
        if name in inits:
            g.initializer.remove(inits[name])
        else:
            g.node.remove(consts[name])
    # IR 3 lists every initializer as a graph input too; both converters would then treat weights
    # as overridable float32 inputs (onnxconverter-common's keep_io_types casts them and leaves them
    # float32). IR 4 lets them be plain initializers, as in models exported today.
    names = {t.name for t in g.initializer} | set(inits)  # removed shape initializers too
    keep = [i for i in g.input if i.name not in names]
    del g.input[:]
    g.input.extend(keep)
    model.ir_version = max(model.ir_version, 4)
    return sum(math.prod(t.dims) for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT)


def check(path):
    import onnxruntime as ort
    onnx.checker.check_model(path)  # by path: works past protobuf's 2 GB too
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # resnet50/zfnet512 carry an unused 1-element initializer: ORT warns
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in sess.get_inputs()}
    outs = sess.run(None, feed)
    if not all(np.isfinite(o).all() for o in outs):
        raise SystemExit(f"{path}: non-finite output on a zero input")
    return "onnx.checker and an ORT run"


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    sources = sorted(glob.glob(SOURCE))
    if not sources:
        raise SystemExit(f"no models at {SOURCE} (run `make material`)")
    for src in sources:
        name = os.path.basename(src)
        out = os.path.join(outdir, name)
        if os.path.exists(out):
            print(f"{name}: present ({os.path.getsize(out) / 1e6:.1f} MB)")
            continue
        t = time.perf_counter()
        model = onnx.load(src)
        params = materialize(model, zlib.crc32(name.encode()))  # same values whatever the order
        tmp = out + ".tmp"
        try:
            onnx.save(model, tmp)
            del model
            size = os.path.getsize(tmp)
            how = check(tmp)  # vgg19: 1.3 s
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        print(f"{name}: {params / 1e6:.2f} M parameters, {size / 1e6:.1f} MB, {how} ok, {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: make-light-models.py OUTDIR")
    main(sys.argv[1])
