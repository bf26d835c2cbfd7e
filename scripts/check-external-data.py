"""External-data interop with Python onnx.

check-external-data.py MODEL TENSOR COUNT  -> loads MODEL (written by HalfPipe) with onnx and checks
                                              TENSOR has COUNT elements equal to (i % 1000) * 0.001.
check-external-data.py --write MODEL       -> writes a model whose initializer 'w' = arange(4096)
                                              is stored as external data by onnx itself.
"""
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

if sys.argv[1] == "--write":
    path = sys.argv[2]
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="py.data", size_threshold=0)
    sys.exit(0)

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = onnx.load(path)
onnx.checker.check_model(path)
tensor = next(t for t in model.graph.initializer if t.name == name)
values = numpy_helper.to_array(tensor)
expected = (np.arange(count) % 1000).astype(np.float32) * np.float32(0.001)
if values.shape != (count,) or not np.array_equal(values, expected):
    sys.exit(f"{path}: tensor {name} differs from what HalfPipe wrote")
print("python onnx reads HalfPipe's external data: ok")
