"""Counts parameters independently of HalfPipe, with Python onnx: elements of every initializer
(in every graph, subgraphs included) plus every floating-point tensor held by a Constant node
(value, value_float, value_floats). Prints a JSON object {path: count}."""
import json, sys
import onnx
from onnx import TensorProto

FLOATS = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
          TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ,
          TensorProto.FLOAT4E2M1, TensorProto.FLOAT8E8M0}


def elements(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def graphs(g):
    yield g
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from graphs(a.g)
            for sub in a.graphs:
                yield from graphs(sub)


def count(path):
    model = onnx.load(path)
    total = 0
    for g in graphs(model.graph):
        total += sum(elements(t.dims) for t in g.initializer)
        for node in g.node:
            if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or not node.attribute:
                continue
            a = node.attribute[0]
            if a.name == "value" and a.t.data_type in FLOATS:
                total += elements(a.t.dims)
            elif a.name == "value_float":
                total += 1
            elif a.name == "value_floats":
                total += len(a.floats)
    return total


print(json.dumps({p: count(p) for p in sys.argv[1:]}))
