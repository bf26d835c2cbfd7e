"""Gives a model exported at batch 1 a symbolic batch, for the engine's batch-32 checks.

The model-zoo graphs fix batch 1 in their input, their outputs and the constant targets of their
Reshapes ([1, 2048]). Usage: batch-symbolic.py IN OUT: the input's and outputs' first dimension
become "N", a constant Reshape target that starts with 1 starts with 0 (copy the input's batch),
and the intermediate shapes written at export are dropped (ONNX Runtime infers them again). The
checks run both sides on the rewritten file, so a rewrite the graph does not allow fails there."""
import sys
import onnx
from onnx import numpy_helper

src, dst = sys.argv[1:3]
m = onnx.load(src)
g = m.graph
weights = {t.name for t in g.initializer}
for v in list(g.input) + list(g.output):
    if v.name in weights:
        continue
    dims = v.type.tensor_type.shape.dim
    if dims and dims[0].dim_value == 1:
        dims[0].dim_param = "N"
inits = {t.name: t for t in g.initializer}
consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
for node in g.node:
    if node.op_type != "Reshape" or len(node.input) < 2:
        continue
    name = node.input[1]
    tensor = inits.get(name) or (consts[name].attribute[0].t if name in consts else None)
    if tensor is None:
        continue
    target = numpy_helper.to_array(tensor).copy()
    if target.size and target[0] == 1:
        target[0] = 0
        tensor.CopyFrom(numpy_helper.from_array(target, tensor.name))
del g.value_info[:]
onnx.save(m, dst)
