"""ONNX Runtime's side of the INT8 benchmark against `halfpipe quantize`, on five real models
(bench/quantize_eval.py names them: det, rec, cls, orientation, yolo).

  prepare       real pictures -> DIR/calib/NNN.npy (the calibration set both tools read) and DIR/eval/
  ort-quantize  onnxruntime.quantization.quantize_static (QDQ, per-channel INT8), in a timed child
  time-cmd      wall time and peak RSS of any command, as one JSON line (the same wrapper)
  evaluate      task-level agreement of an INT8 model with its float32 original, as JSON
  latency       median ORT latency of a model (a cross-check of `halfpipe bench`)
  mixed         onnxconverter-common's auto_convert_mixed_precision: model runs, seconds, result

Each subcommand prints a few human lines on stderr and one JSON object on stdout."""
import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quantize_eval as qe  # noqa: E402


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def model_file(name_or_path):
    return qe.model_path(name_or_path) if name_or_path in qe.MODELS else name_or_path


def cpu_session(path, threads=0):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ORT's default, one per core
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------------------------
# Timing wrapper


def run_timed(cmd, mem_limit_gb=None, capture=False):
    """Run CMD as a child; its wall seconds, peak RSS (MiB, getrusage of the children) and exit code.

    MEM_LIMIT_GB caps the child's address space, so that a calibration that would need more memory
    than the machine has fails in the child (MemoryError, std::bad_alloc) instead of waking the
    kernel's OOM killer. With CAPTURE the child's stdout comes back as "stdout"."""
    def limit():
        if mem_limit_gb:
            size = int(mem_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    start = time.perf_counter()
    done = subprocess.run(cmd, preexec_fn=limit, stdout=subprocess.PIPE if capture else None, text=True)
    seconds = time.perf_counter() - start
    # The largest RSS of any child waited for so far (KiB on Linux): each subcommand starts exactly
    # one child, so this is that child's peak, its own children included once they are reaped.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {"seconds": round(seconds, 3), "peak_rss_mb": round(peak_kb / 1024, 1), "rc": done.returncode}
    if capture:
        result["stdout"] = done.stdout
    return result


def cmd_time(args):
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        raise SystemExit("time-cmd: no command given (time-cmd -- CMD ...)")
    emit(run_timed(cmd, args.mem_limit_gb))


# ---------------------------------------------------------------------------------------------
# prepare


def write_samples(folder, samples, name):
    """Each (label, picture) preprocessed for NAME into FOLDER/NNN.npy; FOLDER/index.json maps files
    to their sources. Earlier .npy files there are removed first, so the folder holds this set only."""
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.endswith(".npy"):
            os.remove(os.path.join(folder, old))
    index = []
    width = max(3, len(str(len(samples) - 1)))
    for i, (label, image) in enumerate(samples):
        x, _ = qe.preprocess(name, image)
        file = f"{i:0{width}d}.npy"
        np.save(os.path.join(folder, file), x.astype(np.float32))
        index.append({"file": file, "source": label, "shape": list(x.shape)})
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
    return len(index)


def rotations(samples, turns):
    """Each picture turned by each of TURNS quarter turns (counter-clockwise), labelled."""
    out = []
    for label, image in samples:
        for k in turns:
            out.append((f"{label} rot{90 * k}" if k else label, np.ascontiguousarray(np.rot90(image, k))))
    return out


def cmd_prepare(args):
    name, n = args.model, args.images
    still = [(os.path.basename(p), qe.read_image(p)) for p in qe.image_paths()]
    crops = []
    if name in ("rec", "cls"):
        # Text-line models see text lines: calibration takes the even-numbered crops (then pictures),
        # evaluation the odd-numbered ones, so no crop is in both sets.
        crops = qe.text_crops(cpu_session(qe.model_path("det")))
        say(f"prepare {name}: {len(crops)} text-line crops found by the float32 detector")
    calib = (crops[0::2] + qe.calibration_pictures(n))[:n] if crops else qe.calibration_pictures(n)

    if name == "det":
        evaluation = [(os.path.basename(p), qe.read_image(p)) for p in qe.text_image_paths()]
    elif name == "rec":
        evaluation = crops[1::2]
    elif name == "cls":  # the crops upright and upside down give both classes, plus every picture
        evaluation = rotations(crops[1::2], (0, 2)) + still
    elif name == "orientation":  # every picture at the four orientations the model tells apart
        evaluation = rotations(still, (0, 1, 2, 3))
    elif name == "yolo":
        frames = [qe.EVAL_FRAME_OFFSET + i * qe.EVAL_FRAME_STEP for i in range(qe.EVAL_FRAMES)]
        evaluation = still + qe.video_frames(frames)
    else:
        raise SystemExit(f"prepare: unknown model {name!r} (one of {', '.join(qe.MODELS)})")

    written_calib = write_samples(os.path.join(args.out, "calib"), calib, name)
    written_eval = write_samples(os.path.join(args.out, "eval"), evaluation, name)
    say(f"prepare {name}: {written_calib} calibration samples, {written_eval} evaluation samples in {args.out}")
    emit({"model": name, "calib": written_calib, "eval": written_eval, "crops": len(crops), "out": args.out})


# ---------------------------------------------------------------------------------------------
# ort-quantize


def cmd_ort_quantize(args):
    """Run the worker below in a child process: its wall time and peak RSS are the figures."""
    cmd = [sys.executable, os.path.abspath(__file__), "_ort-quantize-worker", "--model", args.model,
           "--calib", args.calib, "--method", args.method, "--out", args.out,
           "--activation-type", args.activation_type, "--pre-process", args.pre_process,
           "--num-bins", str(args.num_bins), "--num-quantized-bins", str(args.num_quantized_bins),
           "--percentile", str(args.percentile), "--upgrade-opset", str(args.upgrade_opset)]
    if args.calib_limit:
        cmd += ["--calib-limit", str(args.calib_limit)]
    timed = run_timed(cmd, args.mem_limit_gb, capture=True)
    lines = [l for l in timed.pop("stdout").splitlines() if l.startswith("{")]
    report = json.loads(lines[-1]) if lines else {"ok": False, "error": "the worker printed no report"}
    if timed["rc"] != 0 and report.get("ok", False) is not False:
        report["ok"] = False
    if timed["rc"] < 0:
        report["error"] = f"killed by signal {-timed['rc']}"
    report.update(timed)
    say(f"ort-quantize {args.model} {args.method}: {'ok' if report.get('ok') else 'FAILED'} "
        f"in {timed['seconds']} s, peak RSS {timed['peak_rss_mb']} MiB")
    emit(report)


class NpyReader:
    """onnxruntime.quantization.CalibrationDataReader over a folder of batch-1 .npy samples, read
    lazily in name order (the order halfpipe reads them). set_range serves CalibStridedMinMax."""

    def __init__(self, folder, input_name, limit=None):
        self.files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".npy"))
        if limit:
            self.files = self.files[:limit]
        if not self.files:
            raise ValueError(f"no .npy samples in {folder}")
        self.input_name = input_name
        self.set_range(0, len(self.files))

    def __len__(self):
        return len(self.files)

    def set_range(self, start_index, end_index):
        self.pending = iter(self.files[start_index:end_index])

    def get_next(self):
        path = next(self.pending, None)
        return None if path is None else {self.input_name: np.load(path)}


def count_ops(path):
    import onnx
    model = onnx.load(path)
    ops = [n.op_type for n in model.graph.node]
    return {"nodes": len(ops), "QuantizeLinear": ops.count("QuantizeLinear"),
            "DequantizeLinear": ops.count("DequantizeLinear"),
            "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))}


def cmd_ort_quantize_worker(args):
    """quant_pre_process (optional), ORT's calibrator over the .npy samples, quantize_static (QDQ,
    per-channel QInt8 weights), then a load check of the result. Every phase is timed, and a failure
    in any of them is reported as JSON rather than raised."""
    import logging
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    logging.getLogger().setLevel(logging.ERROR)  # ORT warns once per tensor; failures are reported
    source = model_file(args.model)
    report = {"model": args.model, "method": args.method, "activation_type": args.activation_type,
              "per_channel": True, "format": "QDQ", "ok": False}
    phases = {}
    work = tempfile.mkdtemp(prefix="qpeer.")
    try:
        # 1. ORT's recommended pre-processing: symbolic shape inference and graph optimization.
        model_in = source
        if args.pre_process != "off":
            t = time.perf_counter()
            pre = os.path.join(work, "pre.onnx")
            # Full pre-processing needs sympy (symbolic shape inference); without it, or where the
            # symbolic pass fails, ONNX shape inference and ORT's optimizer still run (BatchNorm
            # folding matters: unfolded, each BatchNormalization is quantized on its own).
            attempts = [("full", {}), ("no symbolic shape", {"skip_symbolic_shape": True})]
            failures = []
            for label, skip in attempts:
                try:
                    quant_pre_process(source, pre, **skip)
                    model_in, report["pre_process"] = pre, label
                    break
                except Exception as e:  # noqa: BLE001  (recorded: which models it fails on is a finding)
                    failures.append(f"{label}: {type(e).__name__}: {str(e)[:200]}")
            else:
                report["pre_process"] = "failed, raw model used"
                if args.pre_process == "on":
                    raise RuntimeError("; ".join(failures))
            if failures:
                report["pre_process_failures"] = failures
            phases["pre_process_s"] = round(time.perf_counter() - t, 3)
        else:
            report["pre_process"] = "off"

        # Per-channel DequantizeLinear (its axis attribute) needs opset 13; quantize_static keeps an
        # older opset and writes a model ORT refuses. --upgrade-opset converts the model first.
        if args.upgrade_opset:
            model = onnx.load(model_in)
            opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
            if opset < args.upgrade_opset:
                from onnx import version_converter
                upgraded = os.path.join(work, "upgraded.onnx")
                onnx.save(version_converter.convert_version(model, args.upgrade_opset), upgraded)
                model_in, report["upgraded_opset"] = upgraded, f"{opset} -> {args.upgrade_opset}"

        # 2. Calibration. quantize_static forwards neither num_bins nor num_quantized_bins to the
        # calibrator, so the ranges are computed here with ORT's own create_calibrator and handed
        # to quantize_static through its calibration cache: the same code path, the bins we chose.
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[args.method]
        options = {}
        if args.method == "entropy":
            options = {"num_bins": args.num_bins, "num_quantized_bins": args.num_quantized_bins}
            report["bins"] = options
        elif args.method == "percentile":
            options = {"num_bins": args.num_bins, "percentile": args.percentile}
            report["bins"] = options
        input_name = onnx.load(model_in, load_external_data=False).graph.input[0].name
        reader = NpyReader(args.calib, input_name, args.calib_limit)
        report["samples"] = len(reader)
        t = time.perf_counter()
        calibrator = create_calibrator(model_in, None, os.path.join(work, "augmented.onnx"), method,
                                       extra_options=options)
        calibrator.collect_data(reader)
        ranges = calibrator.compute_data()
        del calibrator
        cache = os.path.join(work, "ranges.json")
        save_tensors_data(ranges, cache)
        phases["calibrate_s"] = round(time.perf_counter() - t, 3)
        report["calibrated_tensors"] = len(ranges.data)

        # 3. Quantization proper, from the cached ranges.
        t = time.perf_counter()
        activation = QuantType.QInt8 if args.activation_type == "qint8" else QuantType.QUInt8
        quantize_static(model_in, args.out, None, quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=activation, calibrate_method=method,
                        calibration_cache_path=cache)
        phases["quantize_s"] = round(time.perf_counter() - t, 3)
        report.update(count_ops(args.out))

        # 4. Does ONNX Runtime load what it wrote? (per-channel DequantizeLinear needs opset 13)
        try:
            cpu_session(args.out)
            report["loads"] = True
            report["ok"] = True
        except Exception as e:  # noqa: BLE001
            report["loads"] = False
            report["error"] = f"load: {type(e).__name__}: {str(e)[:300]}"
    except MemoryError:
        report["error"] = "MemoryError (over --mem-limit-gb)"
    except Exception as e:  # noqa: BLE001
        report["error"] = f"{type(e).__name__}: {str(e)[:400]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["phases"] = phases
    emit(report)
    sys.exit(0 if report["ok"] else 1)


# ---------------------------------------------------------------------------------------------
# evaluate, latency


def cmd_evaluate(args):
    samples = qe.load_samples(args.eval)
    if args.limit:
        samples = samples[:args.limit]
    try:
        fp32, int8 = cpu_session(args.fp32), cpu_session(args.int8)
    except Exception as e:  # noqa: BLE001  (e.g. per-channel DequantizeLinear in an opset-11 model)
        say(f"evaluate {args.model}: cannot load: {e}")
        emit({"model": args.model, "fp32": args.fp32, "int8": args.int8, "ok": False,
              "error": f"{type(e).__name__}: {str(e)[:400]}"})
        return
    result = qe.compare(args.model, fp32, int8, samples, yolo_score=args.yolo_score)
    result = {"model": args.model, "fp32": args.fp32, "int8": args.int8, **result}
    headline = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    say(f"evaluate {args.model}: {result['metric']}: {headline}")
    emit(result)


def feed_for(session, args):
    """The latency input: --feed tiled to the batch, else random data of --shape or of the static
    input shape."""
    meta = session.get_inputs()[0]
    if args.feed:
        one = np.load(args.feed)
        return np.repeat(one[:1], args.batch, axis=0)
    if args.shape:
        shape = [args.batch] + [int(d) for d in args.shape.split(",")]
    elif args.model in qe.MODELS:
        _, _, _, h, w = qe.MODELS[args.model]
        shape = [args.batch, 3, h, w]
    else:
        dims = meta.shape[1:]
        if not all(isinstance(d, int) for d in dims):
            raise SystemExit(f"latency: input {meta.name} has dynamic dims {meta.shape}: "
                             "give --shape or --feed")
        shape = [args.batch] + list(dims)
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def cmd_latency(args):
    session = cpu_session(model_file(args.model), args.threads)
    x = feed_for(session, args)
    feed = {session.get_inputs()[0].name: x}
    for _ in range(args.warmup):
        session.run(None, feed)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    result = {"model": args.model, "batch": args.batch, "threads": args.threads, "runs": args.runs,
              "input_shape": list(x.shape), "median_ms": round(statistics.median(times), 3),
              "p10_ms": round(times[len(times) // 10], 3), "p90_ms": round(times[(len(times) * 9) // 10], 3)}
    say(f"latency {args.model}: median {result['median_ms']} ms (batch {args.batch}, {args.threads} threads)")
    emit(result)


# ---------------------------------------------------------------------------------------------
# mixed


class Timeout(BaseException):
    """Raised by the alarm; a BaseException, so that no `except Exception` in the library eats it."""


def precision_census(model):
    """Nodes of MODEL by the element type of their outputs: float16, float32, and Casts apart."""
    from onnx import TensorProto
    types = {t.name: t.type.tensor_type.elem_type
             for t in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    fp16 = fp32 = casts = 0
    for node in model.graph.node:
        if node.op_type == "Cast":
            casts += 1
            continue
        out = {types.get(o) for o in node.output}
        if TensorProto.FLOAT16 in out:
            fp16 += 1
        elif TensorProto.FLOAT in out:
            fp32 += 1
    return {"nodes": len(model.graph.node), "nodes_fp16": fp16, "nodes_fp32": fp32, "casts": casts}


def cmd_mixed(args):
    """auto_convert_mixed_precision bisects the graph into float16 and float32 parts, running the
    model (through get_tensor_values_using_ort) for every attempt; those calls are counted."""
    import warnings
    import onnx
    import onnxruntime
    from onnxconverter_common import auto_mixed_precision as amp

    onnxruntime.set_default_logger_severity(3)  # every attempt's session warns about its Casts
    warnings.simplefilter("ignore")  # float16's "will be truncated" for each tiny weight

    model = onnx.load(model_file(args.model))
    x = np.load(args.feed)
    feed = {model.graph.input[0].name: x}
    calls = {"runs": 0, "probe_runs": 0}
    original = amp.get_tensor_values_using_ort

    def counted(m, input_feed, output_names=None, sess_options=None):
        calls["runs"] += 1
        if output_names is not None:  # add_missing_dtypes_using_ort's dtype probes
            calls["probe_runs"] += 1
        return original(m, input_feed, output_names, sess_options)

    def on_alarm(signum, frame):
        raise Timeout()

    amp.get_tensor_values_using_ort = counted
    result = {"model": args.model, "feed": args.feed, "rtol": args.rtol, "atol": args.atol, "ok": False,
              "error": None}
    log = io.StringIO()  # the library prints every attempt's node list: kept out of our output
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(log):
            converted = amp.auto_convert_mixed_precision(model, feed, rtol=args.rtol, atol=args.atol,
                                                         keep_io_types=True)
        result["ok"] = True
        result.update(precision_census(converted))
        if args.out:
            onnx.save(converted, args.out)
    except Timeout:
        result["error"] = f"timeout after {args.max_seconds} s"
    except Exception as e:  # noqa: BLE001  (a crash is a result: which models it fails on)
        result["error"] = f"{type(e).__name__}: {str(e)[:400]}"
    finally:
        signal.alarm(0)
        amp.get_tensor_values_using_ort = original
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["attempts"] = log.getvalue().count("Running attempt")
    result.update(calls)
    result["validation_runs"] = calls["runs"] - calls["probe_runs"]
    say(f"mixed {args.model}: {'ok' if result['ok'] else 'FAILED ' + str(result['error'])}, "
        f"{calls['runs']} model runs in {result['seconds']} s")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(result, f)
    emit(result)


# ---------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    names = ", ".join(qe.MODELS)

    s = sub.add_parser("prepare", help="write the calibration and evaluation .npy samples")
    s.add_argument("--model", required=True, choices=list(qe.MODELS))
    s.add_argument("--images", type=int, default=200, help="calibration samples (default 200)")
    s.add_argument("--out", required=True)
    s.set_defaults(run=cmd_prepare)

    def quant_args(s):
        s.add_argument("--model", required=True, help=f"{names}, or an ONNX file")
        s.add_argument("--calib", required=True, help="a folder of .npy samples (DIR/calib)")
        s.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
        s.add_argument("--out", required=True)
        s.add_argument("--activation-type", choices=["qint8", "quint8"], default="qint8")
        s.add_argument("--pre-process", choices=["auto", "on", "off"], default="auto",
                       help="quant_pre_process first: auto falls back to the raw model when it fails")
        # ORT histograms signed values over [-t, t]: 2048 bins there are 1024 per side, where
        # TensorRT's 2048 are all on |x|; --num-bins 4096 --num-quantized-bins 256 matches it per side.
        s.add_argument("--num-bins", type=int, default=2048)
        s.add_argument("--num-quantized-bins", type=int, default=128)
        s.add_argument("--percentile", type=float, default=99.999)
        s.add_argument("--calib-limit", type=int, default=0, help="use only the first N samples")
        s.add_argument("--upgrade-opset", type=int, default=0,
                       help="convert the model to this opset first (13 for per-channel DequantizeLinear)")

    s = sub.add_parser("ort-quantize", help="quantize_static in a timed child process")
    quant_args(s)
    s.add_argument("--mem-limit-gb", type=float, default=18.0,
                   help="address-space cap of the child (0: none)")
    s.set_defaults(run=cmd_ort_quantize)

    s = sub.add_parser("_ort-quantize-worker")  # the child of ort-quantize
    quant_args(s)
    s.set_defaults(run=cmd_ort_quantize_worker)

    s = sub.add_parser("time-cmd", help="time-cmd -- CMD...: seconds, peak RSS and rc as JSON")
    s.add_argument("--mem-limit-gb", type=float, default=0)
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(run=cmd_time)

    s = sub.add_parser("evaluate", help="task-level agreement of an INT8 model with float32")
    s.add_argument("--model", required=True, choices=list(qe.MODELS))
    s.add_argument("--fp32", help="float32 model (default: the material file)")
    s.add_argument("--int8", required=True)
    s.add_argument("--eval", required=True, help="a folder of .npy samples (DIR/eval)")
    s.add_argument("--limit", type=int, default=0)
    s.add_argument("--yolo-score", type=float, default=qe.YOLO_SCORE,
                   help=f"yolo: keep boxes with obj*cls at least this (default {qe.YOLO_SCORE}, as ddddocr)")
    s.set_defaults(run=cmd_evaluate)

    s = sub.add_parser("latency", help="median ORT latency")
    s.add_argument("--model", required=True, help=f"{names}, or an ONNX file")
    s.add_argument("--batch", type=int, default=1)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--runs", type=int, default=20)
    s.add_argument("--warmup", type=int, default=3)
    s.add_argument("--feed", help="a .npy sample to tile to the batch (default random)")
    s.add_argument("--shape", help="C,H,W of a random input when the model's dims are dynamic")
    s.set_defaults(run=cmd_latency)

    s = sub.add_parser("mixed", help="onnxconverter-common auto_convert_mixed_precision")
    s.add_argument("--model", required=True, help=f"{names}, or an ONNX file")
    s.add_argument("--feed", required=True, help="one .npy sample (e.g. DIR/eval/000.npy)")
    s.add_argument("--rtol", type=float, default=1e-2)
    s.add_argument("--atol", type=float, default=1e-3)
    s.add_argument("--max-seconds", type=int, default=1800)
    s.add_argument("--out", help="save the mixed-precision model here")
    s.add_argument("--report", help="also write the JSON result here (for a caller that times the whole command)")
    s.set_defaults(run=cmd_mixed)

    args = p.parse_args()
    if getattr(args, "fp32", "unset") is None:
        args.fp32 = qe.model_path(args.model)
    if getattr(args, "mem_limit_gb", None) == 0:
        args.mem_limit_gb = None
    args.run(args)


if __name__ == "__main__":
    main()
