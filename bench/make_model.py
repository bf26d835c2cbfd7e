"""Writes a benchmark model of about SIZE_MB megabytes of float32 weights (a chain of Conv layers
with real-looking random weights), for load/save timings. Usage: make_model.py PATH SIZE_MB"""
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

path, size_mb = sys.argv[1], int(sys.argv[2])
if os.path.exists(path):
    sys.exit(0)
rng = np.random.default_rng(0)
channels, layers = 256, max(1, size_mb * 1_000_000 // (256 * 256 * 9 * 4))
nodes, inits, x = [], [], "x"
for i in range(layers):
    w = (rng.standard_normal((channels, channels, 3, 3)) * 0.05).astype(np.float32)
    b = (rng.standard_normal(channels) * 0.01).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"conv{i}.w"), numpy_helper.from_array(b, f"conv{i}.b")]
    nodes += [helper.make_node("Conv", [x, f"conv{i}.w", f"conv{i}.b"], [f"c{i}"], pads=[1, 1, 1, 1], name=f"conv{i}"),
              helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}")]
    x = f"r{i}"
graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 32, 32])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, channels, 32, 32])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="halfpipe-bench")
tmp = path + ".part"
onnx.save(model, tmp)
os.replace(tmp, path)
