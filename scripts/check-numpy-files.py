"""Checks .npy/.npz files HalfPipe wrote, with numpy itself (used by Tests/TensorsTests).

check-numpy-files.py DIR

DIR/expectations.json lists what the Swift test wrote:
  {"npy": [{"file", "descr", "shape", "fortran", "bytes" | "strings"}],
   "npz": [{"file", "compressed", "members": [{"name", "descr", "shape", "bytes" | "strings"}]}]}
"descr" is the header's literal descr ("<V2" for bfloat16, as numpy.save writes ml_dtypes arrays);
"bytes" is the hex of the elements in C order, little-endian; "strings" the hex of each element.
Every file is loaded with numpy (allow_pickle=False) and compared exactly; npz archives are also
CRC-checked by zipfile. Exits 1 listing every difference, 0 with a one-line summary.
"""
import ast
import io
import json
import os
import sys
import zipfile

import numpy as np

problems = []


def check_array(where, arr, e, fortran=None):
    if arr.dtype != np.dtype(e["descr"]):  # a '<V2' header loads as dtype '|V2': compare dtypes
        problems.append(f"{where}: dtype {arr.dtype.str!r}, HalfPipe meant {e['descr']!r}")
        return
    if list(arr.shape) != e["shape"]:
        problems.append(f"{where}: shape {arr.shape}, HalfPipe meant {tuple(e['shape'])}")
        return
    if fortran is not None and arr.ndim >= 2 and arr.size > 1:
        is_f = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
        if is_f != fortran:
            problems.append(f"{where}: numpy loaded it {'Fortran' if is_f else 'C'}-ordered, written as {'Fortran' if fortran else 'C'}")
    if "strings" in e:
        got = [(s if isinstance(s, bytes) else s.encode("utf-8")).hex() for s in arr.ravel(order="C").tolist()]
        if got != e["strings"]:
            bad = [i for i, (a, b) in enumerate(zip(got, e["strings"])) if a != b][:5]
            problems.append(f"{where}: string elements differ at {bad}: numpy {[got[i] for i in bad]}, "
                            f"HalfPipe {[e['strings'][i] for i in bad]}")
        return
    c = np.ascontiguousarray(arr)
    if c.dtype.kind != "V":
        c = c.astype(c.dtype.newbyteorder("<"))
    got = c.tobytes()
    want = bytes.fromhex(e["bytes"])
    if got != want:
        size = max(1, arr.dtype.itemsize)
        diffs = [i for i in range(min(len(got), len(want)) // size) if got[i * size:(i + 1) * size] != want[i * size:(i + 1) * size]]
        problems.append(f"{where}: {len(diffs)} elements differ (first at {diffs[:5]}); "
                        f"{len(got)} bytes read, {len(want)} meant")


def check_npy(where, raw, e, fortran):
    """The header as numpy.save writes it (version, literal dict, 64-byte alignment), then the data."""
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    if version != (1, 0):
        problems.append(f"{where}: format version {version}; numpy.save writes 1.0 for headers this small")
        return
    length = int.from_bytes(f.read(2), "little")
    header = ast.literal_eval(f.read(length).decode("latin1"))
    if (10 + length) % 64 != 0:
        problems.append(f"{where}: data starts at byte {10 + length}, not on a 64-byte boundary")
    want = {"descr": e["descr"], "fortran_order": fortran, "shape": tuple(e["shape"])}
    if header != want:
        problems.append(f"{where}: header {header}, meant {want}")
    check_array(where, np.load(io.BytesIO(raw), allow_pickle=False), e, fortran)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check-numpy-files.py DIR")
    root = sys.argv[1]
    with open(os.path.join(root, "expectations.json")) as f:
        spec = json.load(f)
    files = 0
    for e in spec.get("npy", []):
        path = os.path.join(root, e["file"])
        try:
            with open(path, "rb") as f:
                check_npy(e["file"], f.read(), e, e["fortran"])
        except Exception as exc:  # numpy refusing the file is exactly what we test for
            problems.append(f"{e['file']}: numpy cannot load it: {type(exc).__name__}: {exc}")
        files += 1
    for a in spec.get("npz", []):
        path = os.path.join(root, a["file"])
        try:
            with zipfile.ZipFile(path) as z:
                broken = z.testzip()
                if broken is not None:
                    problems.append(f"{a['file']}: member {broken} fails its CRC")
                kinds = {i.compress_type for i in z.infolist()}
                want = {zipfile.ZIP_DEFLATED if a["compressed"] else zipfile.ZIP_STORED}
                if kinds != want:
                    problems.append(f"{a['file']}: compression {kinds}, meant {want}")
                for m in a["members"]:
                    check_npy(f"{a['file']}:{m['name']}.npy", z.read(m["name"] + ".npy"), m, False)
            with np.load(path, allow_pickle=False) as npz:
                names = [m["name"] for m in a["members"]]
                if list(npz.files) != names:
                    problems.append(f"{a['file']}: members {npz.files}, meant {names}")
                for m in a["members"]:
                    if m["name"] in npz.files:
                        check_array(f"{a['file']}:{m['name']} via np.load", npz[m["name"]], m)
        except Exception as exc:
            problems.append(f"{a['file']}: numpy cannot load it: {type(exc).__name__}: {exc}")
        files += 1
    if problems:
        print(f"{len(problems)} problem(s) in {files} files HalfPipe wrote:")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print(f"numpy {np.__version__} reads all {files} files HalfPipe wrote exactly")


if __name__ == "__main__":
    main()
