"""Writes a YOLOv8-shaped stand-in detector for the GPU postprocessing check: images
[B,3,640,640] in, [B,84,8400] out, the output being the input's own pixels (scaled): random
pictures give random heads with 80 classes and thousands of candidates, with no weights to carry.
Channels 0-1 (box centre) span 0-640 px, 2-3 (size) 0-64 px, 4-83 (class scores) 0-1."""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
cells = 80 * 80 + 40 * 40 + 20 * 20
scale = np.ones((1, 84, 1), np.float32)
scale[0, :2, 0] = 640
scale[0, 2:4, 0] = 64
nodes = [
    helper.make_node("Reshape", ["images", "flat"], ["f"]),
    helper.make_node("Slice", ["f", "start", "end", "axis"], ["s"]),
    helper.make_node("Reshape", ["s", "head"], ["r"]),
    helper.make_node("Mul", ["r", "scale"], ["output0"]),
]
inits = [
    numpy_helper.from_array(np.array([0, -1], np.int64), "flat"),
    numpy_helper.from_array(np.array([0], np.int64), "start"),
    numpy_helper.from_array(np.array([84 * cells], np.int64), "end"),
    numpy_helper.from_array(np.array([1], np.int64), "axis"),
    numpy_helper.from_array(np.array([0, 84, cells], np.int64), "head"),
    numpy_helper.from_array(scale, "scale"),
]
graph = helper.make_graph(nodes, "random-head",
                          [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 640, 640])],
                          [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 84, cells])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out)
