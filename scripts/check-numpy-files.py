"""Checks .npy/.npz files HalfPipe wrote, with numpy itself (used by Tests/TensorsTests).

check-numpy-files.py DIR

DIR/expectations.json lists what the Swift test wrote:
  {"npy": [{"file", "descr", "shape", "fortran", "bytes" | "strings"}],
   "npz": [{"file", "compressed", "members": [{"name", "descr", "shape", "bytes" | "strings"}]}]}
"bytes" is the hex of the elements in C order, little-endian; "strings" the hex of each element.
Every file is loaded with numpy (allow_pickle=False) and compared exactly; npz archives are also
CRC-checked by zipfile. Exits 1 listing every difference, 0 with a one-line summary.
"""
import json
import os
import sys
import zipfile

import numpy as np

problems = []


def check_array(where, arr, e, fortran=None):
    if arr.dtype.str != e["descr"]:
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


def check_header(where, path, fortran):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            problems.append(f"{where}: format version {version}; numpy.save writes 1.0 (2.0 for huge headers)")
            return
        _, fortran_order, _ = read_header(f)
        if f.tell() % 64 != 0:
            problems.append(f"{where}: data starts at byte {f.tell()}, not on a 64-byte boundary")
        if fortran_order != fortran:
            problems.append(f"{where}: header says fortran_order={fortran_order}, meant {fortran}")


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
            check_header(e["file"], path, e["fortran"])
            check_array(e["file"], np.load(path, allow_pickle=False), e, e["fortran"])
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
            with np.load(path, allow_pickle=False) as npz:
                names = [m["name"] for m in a["members"]]
                if list(npz.files) != names:
                    problems.append(f"{a['file']}: members {npz.files}, meant {names}")
                for m in a["members"]:
                    if m["name"] in npz.files:
                        check_array(f"{a['file']}:{m['name']}", npz[m["name"]], m)
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
