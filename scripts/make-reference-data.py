"""numpy/ml_dtypes-made reference data for the Tensors tests (Tests/TensorsTests).

make-reference-data.py OUTDIR [--force]

Writes into OUTDIR (the Makefile passes .cache/reference):
  manifest.json              what every file is and what Swift must find in it
  conv/*.bin                 raw little-endian inputs and numpy's `astype` outputs, bit for bit
  npy/*.npy, npz/*.npz       files written by numpy itself, every dtype HalfPipe reads
  npy/*.expected.bin         their elements in C order, little-endian (what Swift must decode)
  bad/*                      files numpy/zipfile write that HalfPipe must reject with an error

Idempotent: a stamp (hash of this script + numpy/ml_dtypes versions) skips up-to-date output.
Atomic: everything is built in a sibling temporary folder, then renamed into place.
"""
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16
F32_MAX_BITS = 0x7F7FFFFF


def u32(values):
    return np.asarray(values, dtype=np.uint64).astype(np.uint32)


def f32_from_bits(bits):
    return u32(bits).view(np.float32)


def both_signs(bits):
    bits = u32(bits)
    return np.concatenate([bits, bits | np.uint32(0x80000000)])


def neighbours(bits):
    """Each float32 pattern with its next-lower and next-higher magnitude (same sign)."""
    bits = u32(bits).astype(np.int64)
    out = np.concatenate([bits, bits - 1, bits + 1])
    return u32(out[(out >= 0) & (out <= F32_MAX_BITS)])


def float32_inputs(rng):
    """The float32 boundary set for float16 and bfloat16, then ~1M random bit patterns."""
    parts = []
    # Every float16 value (NaN payloads and infinities included) as float32.
    parts.append(np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32))
    # Exact midpoints between consecutive float16 magnitudes (exact in float32), ±1 ulp; the
    # last one is 65520, halfway from 65504 to the first overflow.
    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    h = np.append(h, 65536.0)
    mid = ((h[:-1] + h[1:]) / 2).astype(np.float32).view(np.uint32)
    parts.append(both_signs(neighbours(mid)))
    # Every float32 in [65500, 65540]: rounding down to 65504, ties at 65520, overflow to inf.
    lo, hi = np.float32(65500).view(np.uint32), np.float32(65540).view(np.uint32)
    parts.append(both_signs(np.arange(lo, hi + 1, dtype=np.uint64)))
    # Around the float16 subnormal range: half the smallest subnormal (2^-25) and below.
    small = [2.0 ** -25, 2.0 ** -26, 2.0 ** -24, 2.0 ** -14, 2.0 ** -15, 2.0 ** -30, 2.0 ** -40,
             2.0 ** -126, 3 * 2.0 ** -26, 2.0 ** -25 * 1.5]
    parts.append(both_signs(neighbours(np.array(small, np.float32).view(np.uint32))))
    # float32 denormals (some fixed, some random), ±0, ±inf.
    parts.append(both_signs([0, 1, 2, 3, 0x1000, 0x1FFF, 0x2000, 0x400000, 0x7FFFFF, 0x7F800000]))
    parts.append(rng.integers(1, 0x800000, 2000, dtype=np.uint64).astype(np.uint32))
    # Every exponent with mantissas that sit on the float16/bfloat16 rounding boundaries.
    mants = [0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x5000, 0x7FFF, 0x8000, 0x8001,
             0xFFFF, 0x10000, 0x18000, 0x3FFFFF, 0x400000, 0x400001, 0x7FE000, 0x7FF000, 0x7FFFFF]
    exps = np.arange(256, dtype=np.uint64) << 23
    parts.append(both_signs((exps[:, None] | np.array(mants, np.uint64)[None, :]).ravel()))
    # Dense random mantissas where float16 goes from zero through subnormal to normal.
    for e in range(99, 117):
        parts.append(both_signs((e << 23) | rng.integers(0, 0x800000, 1000, dtype=np.uint64)))
    # NaNs: quiet and signalling, many payloads, both signs.
    nan_mants = [1, 2, 0x1FFF, 0x2000, 0x2001, 0x3FFF, 0xFFFF, 0x10000, 0x200000, 0x3FFFFF,
                 0x400000, 0x400001, 0x402000, 0x7FE000, 0x7FFFFF, 0x155555, 0x2AAAAA]
    parts.append(both_signs(np.uint64(0x7F800000) | np.array(nan_mants, np.uint64)))
    parts.append(both_signs(np.uint64(0x7F800000) | rng.integers(1, 0x800000, 2000, dtype=np.uint64)))
    # bfloat16 ties: midpoints between consecutive bfloat16 magnitudes, ±1 ulp (0x7F7F8000 is
    # halfway from the largest bfloat16 to the first overflow).
    b = np.arange(0, 0x7F80, dtype=np.uint64) << 16
    parts.append(both_signs(neighbours(b | 0x8000)))
    # ~1M random bit patterns.
    parts.append(rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32))
    return np.concatenate([u32(p) for p in parts]).view(np.float32)


def float64_inputs(rng):
    """Doubles for the float64 → float32/float16/bfloat16 conversions (numpy rounds once)."""
    parts = []
    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    h = np.append(h, 65536.0)
    mid = (h[:-1] + h[1:]) / 2
    for m in (mid, -mid):
        parts += [m, np.nextafter(m, np.inf), np.nextafter(m, -np.inf), m * (1 + 2.0 ** -40), m * (1 - 2.0 ** -40)]
    b = (np.arange(0, 0x7F80, dtype=np.uint64) << 16).astype(np.uint32).view(np.float32).astype(np.float64)
    bmid = b + np.ldexp(1.0, np.frexp(b)[1] - 9)  # halfway to the next bfloat16 (exact in float64)
    # Round-once cases: just off a bfloat16 tie, where float64 -> float32 -> bfloat16 would round twice.
    for m in (bmid, -bmid):
        parts += [m, m * (1 + 2.0 ** -40), m * (1 - 2.0 ** -40), np.nextafter(m, np.inf), np.nextafter(m, -np.inf)]
    parts.append(np.array([1 + 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -8 - 2.0 ** -30, 1 + 3 * 2.0 ** -8 + 2.0 ** -30]))
    f = rng.integers(0, 0x7F800000, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32).astype(np.float64)
    parts += [f + np.ldexp(1.0, np.frexp(f)[1] - 25), f * (1 + 2.0 ** -50)]  # float32 ties and near-ties
    specials = np.array([0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 1, 0x000FFFFFFFFFFFFF,
                         0x7FEFFFFFFFFFFFFF, 0x7FF0000000000001, 0xFFF0000000000001, 0x7FF8000000000000,
                         0xFFF8000000000001, 0x7FF4000000000000, 0x7FF0040000000000, 0x7FF7FFFFFFFFFFFF,
                         0x7FFFFFFFFFFFFFFF, 0x7FF0000020000000], dtype=np.uint64)
    parts.append(specials.view(np.float64))
    parts.append(np.array([65504, 65519.99, 65520, 65520.0001, 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * (1 + 2.0 ** -52),
                           3.4028235677973366e38, 3.4028235677973366e38 * 1.0000001, 1e-45, 7e-46, 1e-300, 1e300]))
    parts.append(rng.integers(0, 1 << 64, 100000, dtype=np.uint64).view(np.float64))
    parts.append(rng.uniform(-70000, 70000, 100000))
    return np.concatenate([np.asarray(p, np.float64) for p in parts])


def integer_inputs(rng):
    near = np.array([0, 1, -1, 2047, 2048, 2049, 2050, 2051, 4097, 65503, 65504, 65505, 65519, 65520, 65521,
                     65536, 1 << 24, (1 << 24) + 1, (1 << 24) + 3, (1 << 25) + 3, 0x7FFFFFFF, -0x80000000,
                     (1 << 53) + 1, (1 << 62) + 12345, 0x7FFFFFFFFFFFFFFF, -0x8000000000000000], dtype=object)
    out = {
        "int8": np.arange(-128, 128, dtype=np.int8),
        "int16": np.arange(-32768, 32768, dtype=np.int32).astype(np.int16),
        "uint16": np.arange(65536, dtype=np.uint16),
        "bool": np.array([False, True, True, False]),
    }
    for name, dt in [("int32", np.int32), ("int64", np.int64), ("uint32", np.uint32), ("uint64", np.uint64)]:
        info = np.iinfo(dt)
        fixed = np.array([v for v in near if info.min <= v <= info.max] + [info.min, info.max], dtype=object).astype(dt)
        rand = rng.integers(info.min, info.max, 20000, dtype=dt, endpoint=True)
        small = rng.integers(max(info.min, -200000), 200000, 20000, dtype=dt)
        out[name] = np.concatenate([fixed, rand, small]).astype(dt)
    return out


class Writer:
    def __init__(self, root):
        self.root = root
        self.manifest = {"conversions": [], "npy": [], "npz": [], "bad": []}

    def raw(self, rel, array):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(np.ascontiguousarray(array).tobytes())
        return rel

    # --- conversions -------------------------------------------------------------------------
    def conversion(self, name, src_dtype, dst_dtype, input_rel, output, scale=None, bias=None):
        entry = {"name": name, "from": src_dtype, "to": dst_dtype, "input": input_rel,
                 "output": self.raw(f"conv/{name}.out.bin", output), "count": int(output.size)}
        if scale is not None:
            entry["scaleBits"] = int(np.float32(scale).view(np.uint32))
            entry["biasBits"] = int(np.float32(bias).view(np.uint32))
        self.manifest["conversions"].append(entry)

    # --- numpy files -------------------------------------------------------------------------
    def expectation(self, rel, arr, name=None):
        """What HalfPipe must decode: our dtype name, shape, and C-order little-endian bytes."""
        e = {"dtype": onnx_name(arr.dtype), "shape": list(arr.shape)}
        if name is not None:
            e["name"] = name
        if arr.dtype.kind in "SU":
            items = np.ascontiguousarray(arr).ravel().tolist()
            e["strings"] = [(s if isinstance(s, bytes) else s.encode("utf-8")).hex() for s in items]
        else:
            c = np.ascontiguousarray(arr)
            if c.dtype.kind != "V":
                c = c.astype(c.dtype.newbyteorder("<"))
            e["expected"] = self.raw(rel, c.view(np.uint8))
        return e

    def npy(self, name, arr, version=None, note=""):
        rel = f"npy/{name}.npy"
        with open(os.path.join(self.root, rel), "wb") as f:
            np.lib.format.write_array(f, arr, version=version, allow_pickle=False)
        e = self.expectation(f"npy/{name}.expected.bin", arr)
        e.update({"file": rel, "fortranOrder": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
                  "version": list(version or (1, 0)), "note": note})
        self.manifest["npy"].append(e)

    def npz(self, name, positional, named, compressed):
        rel = f"npz/{name}.npz"
        (np.savez_compressed if compressed else np.savez)(os.path.join(self.root, rel), *positional, **named)
        arrays = dict(named, **{f"arr_{i}": a for i, a in enumerate(positional)})
        with zipfile.ZipFile(os.path.join(self.root, rel)) as z:  # the archive's own member order
            members = [(m[:-4], arrays[m[:-4]]) for m in z.namelist()]
        self.manifest["npz"].append({
            "file": rel, "compressed": compressed,
            "members": [self.expectation(f"npz/{name}.{i}.expected.bin", a, name=n) for i, (n, a) in enumerate(members)],
        })

    def bad(self, name, data, why):
        rel = f"bad/{name}"
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        self.manifest["bad"].append({"file": rel, "why": why})


def onnx_name(dtype):
    if dtype == np.dtype(BF16) or (dtype.kind == "V" and dtype.itemsize == 2):
        return "bfloat16"
    if dtype.kind in "SU":
        return "string"
    return {"f2": "float16", "f4": "float", "f8": "double", "i1": "int8", "i2": "int16", "i4": "int32",
            "i8": "int64", "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "b1": "bool",
            "c8": "complex64", "c16": "complex128"}[f"{dtype.kind}{dtype.itemsize}"]


def sample(rng, dtype, shape):
    """Values of `dtype` that cover its whole bit space (floats: any pattern, NaN payloads too)."""
    n = int(np.prod(shape, dtype=np.int64))
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if dtype.kind == "S":
        pool = [b"", b"a", b"a\x00b", b"\xff\xfe", b"onnx", b"x" * dtype.itemsize, b"\x00mid"]
        return np.array([pool[i % len(pool)] for i in range(n)], dtype=dtype).reshape(shape)
    if dtype.kind == "U":
        pool = ["", "a", "é", "日本語", "🎉x", "a\x00b", "tab\t", "z" * dtype.itemsize]
        return np.array([pool[i % len(pool)] for i in range(n)], dtype=dtype).reshape(shape)
    raw = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


NUMERIC = ["<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1", "<c8", "<c16"]


def write_npy_files(w, rng):
    os.makedirs(os.path.join(w.root, "npy"), exist_ok=True)
    kinds = [(d, np.dtype(d)) for d in NUMERIC] + [("bf16", np.dtype(BF16)), ("S7", np.dtype("S7")), ("U5", np.dtype("<U5"))]
    for label, dt in kinds:
        tag = label.strip("<|")
        w.npy(f"{tag}_c_v1", sample(rng, dt, (2, 3, 4)), (1, 0))
        w.npy(f"{tag}_fortran", np.asfortranarray(sample(rng, dt, (3, 5, 2))), (1, 0), "Fortran order")
        w.npy(f"{tag}_v2", sample(rng, dt, (5,)), (2, 0))
        w.npy(f"{tag}_v3", np.asfortranarray(sample(rng, dt, (2, 3))), (3, 0))
        w.npy(f"{tag}_scalar", sample(rng, dt, ()), (1, 0), "0-d")
        w.npy(f"{tag}_empty", sample(rng, dt, (3, 0, 2)), (1, 0), "zero dimension")
        w.npy(f"{tag}_empty_fortran", np.asfortranarray(sample(rng, dt, (0, 4))), (1, 0))
        w.npy(f"{tag}_odd", sample(rng, dt, (1, 1, 1, 1, 7)), (1, 0))
        if dt.itemsize > 1 and dt.kind not in "SV":
            big = dt.newbyteorder(">")
            w.npy(f"{tag}_big", sample(rng, dt, (4, 3)).astype(big), (1, 0), "big-endian")
            w.npy(f"{tag}_big_fortran", np.asfortranarray(sample(rng, dt, (3, 2, 2)).astype(big)), (2, 0), "big-endian Fortran")
    # A 1-element-wide odd shape in Fortran order and a long 1-d array.
    w.npy("f4_fortran_odd", np.asfortranarray(sample(rng, "<f4", (7, 1, 3, 1))), (1, 0))
    w.npy("i8_long", sample(rng, "<i8", (10007,)), (1, 0))


def write_npz_files(w, rng):
    os.makedirs(os.path.join(w.root, "npz"), exist_ok=True)
    for compressed in (False, True):
        positional = [sample(rng, "<f4", (3, 4)), sample(rng, BF16, (5,))]
        named = {
            "images": np.asfortranarray(sample(rng, "|u1", (2, 3, 4))),
            "half": sample(rng, "<f2", (7, 3)),
            "labels": sample(rng, "S7", (4,)),
            "names": sample(rng, "<U5", (2, 2)),
            "scalar": sample(rng, "<i8", ()),
            "empty": sample(rng, "<f8", (0, 3)),
            "group/weight": sample(rng, ">i4", (3, 2)),
            "flags": sample(rng, "|b1", (9,)),
            "z": sample(rng, "<c8", (2,)),
            "ramp": (np.arange(300000) % 251).astype(np.float32),
        }
        w.npz("savez_compressed" if compressed else "savez", positional, named, compressed)
    w.npz("single_compressed", [np.arange(10, dtype=np.int16)], {}, True)


def write_bad_files(w):
    def saved(arr, allow_pickle=False):
        b = io.BytesIO()
        np.save(b, arr, allow_pickle=allow_pickle)
        return b.getvalue()
    w.bad("structured.npy", saved(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])), "structured dtype")
    w.bad("object.npy", saved(np.array([1, "a", None], dtype=object), allow_pickle=True), "object dtype (pickle)")
    w.bad("float8.npy", saved(np.zeros(4, dtype=ml_dtypes.float8_e4m3fn)), "ml_dtypes float8 saved as <V1")
    w.bad("longdouble.npy", saved(np.zeros(2, dtype=np.longdouble)), "float128")
    w.bad("datetime.npy", saved(np.zeros(2, dtype="M8[ns]")), "datetime64")
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr(zipfile.ZipInfo("readme.txt", date_time=(1980, 1, 1, 0, 0, 0)), "this zip holds no arrays\n")
    w.bad("not-an-npz.npz", b.getvalue(), "a zip whose member is not a .npy")
    w.bad("text.npz", b"hello, this is not a zip file at all\n" * 3, "not a zip")


def build(root):
    rng = np.random.default_rng(20240611)
    w = Writer(root)
    with np.errstate(all="ignore"):
        # float16 / bfloat16 → float32: all 65,536 patterns.
        all16 = np.arange(65536, dtype=np.uint16)
        w.raw("conv/all16.u16.bin", all16)
        w.conversion("f16_to_f32", "float16", "float", "conv/all16.u16.bin", all16.view(np.float16).astype(np.float32))
        w.conversion("bf16_to_f32", "bfloat16", "float", "conv/all16.u16.bin", all16.view(BF16).astype(np.float32))
        w.conversion("f16_to_bf16", "float16", "bfloat16", "conv/all16.u16.bin", all16.view(np.float16).astype(BF16))
        w.conversion("bf16_to_f16", "bfloat16", "float16", "conv/all16.u16.bin", all16.view(BF16).astype(np.float16))
        # float32 → float16 / bfloat16: the boundary set plus random patterns.
        f32 = float32_inputs(rng)
        w.raw("conv/f32_inputs.bin", f32)
        w.conversion("f32_to_f16", "float", "float16", "conv/f32_inputs.bin", f32.astype(np.float16))
        w.conversion("f32_to_bf16", "float", "bfloat16", "conv/f32_inputs.bin", f32.astype(BF16))
        # uint8 → float16 / float32 with scale and bias, as numpy computes it (no fused multiply-add).
        u8 = np.arange(256, dtype=np.uint8)
        w.raw("conv/u8_all.bin", u8)
        for tag, scale, bias in [("unit", 1.0, 0.0), ("div255", 1 / 255, 0.0),
                                 ("imagenet_r", 1 / (255 * 0.229), -0.485 / 0.229)]:
            s, b = np.float32(scale), np.float32(bias)
            v = u8.astype(np.float32) * s + b
            for dst, dt in [("float16", np.float16), ("float", np.float32), ("bfloat16", BF16)]:
                w.conversion(f"u8_{tag}_to_{dst}", "uint8", dst, "conv/u8_all.bin", v.astype(dt), s, b)
        # float64 and integers → float32 / float16 / bfloat16 (Tensor.converted(to:)).
        sources = {"double": float64_inputs(rng), **integer_inputs(rng)}
        for src_name, values in sources.items():
            rel = w.raw(f"conv/{src_name}_inputs.bin", values)
            for dst, dt in [("float", np.float32), ("float16", np.float16), ("bfloat16", BF16)]:
                w.conversion(f"{src_name}_to_{dst}", src_name, dst, rel, values.astype(dt))
    write_npy_files(w, rng)
    write_npz_files(w, rng)
    write_bad_files(w)
    return w.manifest


def stamp():
    with open(__file__, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return f"{digest[:16]} numpy {np.__version__} ml_dtypes {ml_dtypes.__version__}"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit("usage: make-reference-data.py OUTDIR [--force]")
    out = os.path.abspath(args[0])
    manifest_path = os.path.join(out, "manifest.json")
    if "--force" not in sys.argv and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            if json.load(f).get("stamp") == stamp():
                print(f"reference data up to date: {out}")
                return
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".reference-", dir=parent)
    try:
        manifest = build(tmp)
        manifest["stamp"] = stamp()
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        # Swap in the finished folder; a crash before here leaves the old one untouched.
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=".reference-old-", dir=parent)
            os.rename(out, os.path.join(old, "r"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n = len(manifest["conversions"]), len(manifest["npy"]), len(manifest["npz"]), len(manifest["bad"])
    print(f"reference data written to {out}: {n[0]} conversions, {n[1]} .npy, {n[2]} .npz, {n[3]} bad files")


if __name__ == "__main__":
    main()
