"""Writes a stand-in for an Ultralytics export with a dynamic image size (`yolo export
dynamic=True`): images [batch,3,height,width] in, a YOLOv8 head [batch,4+C,cells] out over
strides 8/16/32, and the metadata Ultralytics writes (imgsz, names, stride). Each level is a
strided convolution with fixed weights (the box from the pixels' mean, a class score from their
spread), so pictures give boxes without a trained model. --no-metadata leaves the metadata out.
Usage: make-dynamic-detector.py OUT.onnx [--no-metadata]"""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, metadata = sys.argv[1], "--no-metadata" not in sys.argv[2:]
classes = 2
rng = np.random.default_rng(7)
nodes, inits, levels = [], [], []
for stride in (8, 16, 32):
    w = rng.normal(0, 0.02, (4 + classes, 3, stride, stride)).astype(np.float32)
    b = np.array([stride / 2, stride / 2, stride, stride] + [-1.0] * classes, np.float32)
    inits += [numpy_helper.from_array(w, f"w{stride}"), numpy_helper.from_array(b, f"b{stride}")]
    nodes += [
        helper.make_node("Conv", ["images", f"w{stride}", f"b{stride}"], [f"c{stride}"], strides=[stride, stride], kernel_shape=[stride, stride]),
        helper.make_node("Reshape", [f"c{stride}", "flat"], [f"r{stride}"]),
    ]
    levels.append(f"r{stride}")
inits.append(numpy_helper.from_array(np.array([0, 4 + classes, -1], np.int64), "flat"))
inits.append(numpy_helper.from_array(np.array([4], np.int64), "four"))
inits.append(numpy_helper.from_array(np.array([4 + classes], np.int64), "all"))
inits.append(numpy_helper.from_array(np.array([0], np.int64), "zero"))
inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
nodes += [
    helper.make_node("Concat", levels, ["cat"], axis=2),
    helper.make_node("Slice", ["cat", "zero", "four", "axis1"], ["box"]),
    helper.make_node("Slice", ["cat", "four", "all", "axis1"], ["logits"]),
    helper.make_node("Sigmoid", ["logits"], ["scores"]),
    helper.make_node("Concat", ["box", "scores"], ["output0"], axis=1),
]
graph = helper.make_graph(nodes, "dynamic-detector",
                          [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
                          [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + classes, "anchors"])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
model.ir_version = 8
if metadata:
    for key, value in {"imgsz": "[320, 320]", "names": "{0: 'person', 1: 'car'}", "stride": "32", "task": "detect"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
onnx.checker.check_model(model)
onnx.save(model, out)
