"""Rescales a random-weight model so every Conv and Gemm output has unit RMS on an image-like input.

The model-zoo topologies from make-light-models.py carry seeded random weights. Their activations
grow block after block (shufflenet reaches 2.4e6, resnet50's softmax saturates to one-hot), which
no trained network does: past FP16's 65504 an FP16 engine overflows, and a one-hot softmax checks
nothing. A trained network's layers keep their outputs near unit scale; this gives the random ones
that property (data-dependent initialisation, as LSUV does): layer by layer in graph order, each
layer's weights and bias are divided by the RMS of its output on a fixed N(0, 1) input, measured
after the layers before it were rescaled. The weights are fed as inputs of one ONNX Runtime session,
so each layer costs one run, not a new session. Usage: normalize-activations.py IN OUT."""
import sys
import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

src, dst = sys.argv[1:3]
m = onnx.load(src)
g = m.graph
inits = {t.name: t for t in g.initializer}
layers = [n for n in g.node if n.op_type in ("Conv", "Gemm") and n.input[1] in inits]
params = {}
for n in layers:
    for name in n.input[1:3]:
        if name in inits and name not in params:
            params[name] = numpy_helper.to_array(inits[name]).astype(np.float32)
names = {i.name for i in g.initializer}
image = next(i for i in g.input if i.name not in names)
shape = [d.dim_value if d.dim_value > 0 else 1 for d in image.type.tensor_type.shape.dim]
x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

# The probe: the parameters as graph inputs, every layer's output as a graph output.
probe = onnx.ModelProto()
probe.CopyFrom(m)
kept = [t for t in probe.graph.initializer if t.name not in params]
del probe.graph.initializer[:]
probe.graph.initializer.extend(kept)
probe.graph.input.extend(onnx.helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, list(v.shape)) for k, v in params.items())
del probe.graph.output[:]
probe.graph.output.extend(onnx.helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None) for n in layers)
opts = ort.SessionOptions()
opts.log_severity_level = 3
session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
worst = 1.0
for k, n in enumerate(layers):
    y = session.run([n.output[0]], {image.name: x, **params})[0]
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if not np.isfinite(rms) or rms == 0:
        raise SystemExit(f"{src}: layer {n.name or n.output[0]} gives RMS {rms}")
    worst = max(worst, rms, 1 / rms)
    for name in n.input[1:3]:
        if name in params:
            params[name] = params[name] / np.float32(rms)
for name, a in params.items():
    inits[name].CopyFrom(numpy_helper.from_array(a, name))
print(f"{src}: {len(layers)} layers rescaled (the largest factor {worst:.3g})", file=sys.stderr)
onnx.save(m, dst)
