"""onnxconverter-common's side of `make bench-convert`, as one whole command like
`halfpipe convert MODEL -o OUT --to fp16`: import, load, convert_float_to_float16 with
keep_io_types=True (float32 inputs and outputs, as ours), save. bench/convert.sh times the process;
the one JSON line printed here splits that time into its phases."""
import json, os, sys, time

t0 = time.perf_counter()
import onnx
from google.protobuf.message import EncodeError
from onnxconverter_common import float16


def save(model, dst):
    try:
        onnx.save(model, dst)  # serializes before opening DST: a failure leaves no partial file
    except (ValueError, EncodeError):  # over protobuf's 2 GB: tensors go to DST.data
        if os.path.exists(dst + ".data"):
            os.remove(dst + ".data")  # onnx appends to an existing data file
        onnx.save(model, dst, save_as_external_data=True, location=os.path.basename(dst) + ".data")
        return True
    return False


def main(src, dst):
    t1 = time.perf_counter()
    model = onnx.load(src)  # pulls in external data, if any
    t2 = time.perf_counter()
    try:
        model = float16.convert_float_to_float16(model, keep_io_types=True)
    except (ValueError, EncodeError):  # its in-memory shape inference stops at 2 GB, before any change
        model = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    t3 = time.perf_counter()
    external = save(model, dst)
    t4 = time.perf_counter()
    ms = lambda a, b: round((b - a) * 1e3, 1)
    print(json.dumps({"import_ms": ms(t0, t1), "load_ms": ms(t1, t2), "convert_ms": ms(t2, t3),
                      "save_ms": ms(t3, t4), "external_data": external}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert_peer.py MODEL OUT")
    main(sys.argv[1], sys.argv[2])
