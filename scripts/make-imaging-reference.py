#!/usr/bin/env python3
"""Write decode / resize / letterbox reference data for HalfPipe's Swift tests.

Usage: make-imaging-reference.py OUTDIR

OUTDIR/decode/     NAME.pillow.npy, NAME.opencv.npy (+ NAME.pillow_transposed.npy), index.json
OUTDIR/resize/     CASE.src.npy, CASE.out.npy, index.json
OUTDIR/geometry.json
OUTDIR/letterbox/  NAME.opencv-blob.npy, NAME.ultralytics.npy, index.json

Every file is written to a temporary name and renamed, so a crash never leaves a
half-written reference behind, and running twice gives byte-identical output.
"""
import glob
import json
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image, ImageOps

# The checkout's own test material, wherever the checkout is (never a path of one machine).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = [
    ("skimage", os.path.join(ROOT, ".cache/material/images/skimage")),
    ("opencvdoc", "/usr/share/doc/opencv-doc/examples/data"),
]
INV255 = np.float32(1 / 255)  # the seed multiplies by float32(1/255); so does OpenCV's blob code
TARGETS = [(640, 640), (416, 416), (384, 640)]  # (h, w)


def die(msg):
    sys.exit(f"make-imaging-reference: error: {msg}")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def require(path):
    if not os.path.exists(path):
        die(f"missing input: {path}")
    return path


# ---------------------------------------------------------------- atomic writes

def write_atomic(path, write):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def save_npy(path, arr):
    # a file object, because np.save(name) would append ".npy" to our ".tmp" name
    write_atomic(path, lambda f: np.save(f, np.ascontiguousarray(arr), allow_pickle=False))


def save_json(path, obj):
    write_atomic(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def save_image(path, img, **kw):
    # Pillow picks the format from the extension, so keep it on the temp name
    root, ext = os.path.splitext(path)
    tmp = root + ".tmp" + ext
    img.save(tmp, **kw)
    os.replace(tmp, path)


# ---------------------------------------------------------------- 1. decode

def png_ihdr(path):
    """(bit_depth, color_type, interlaced) straight from the IHDR chunk;
    Pillow hides bit depth (a 16-bit RGB PNG opens as mode "RGB")."""
    with open(path, "rb") as f:
        head = f.read(29)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        die(f"not a PNG: {path}")
    bit_depth, color_type, _, _, interlace = struct.unpack(">BBBBB", head[24:29])
    return bit_depth, color_type, interlace == 1


def write_adam7_png(path, rgb):
    """8-bit RGB PNG with Adam7 interlacing. Neither Pillow nor OpenCV can write
    interlaced PNGs, so build the chunks by hand (filter type 0 on every row)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]  # (x0, y0, dx, dy)
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.size == 0:  # empty passes contribute no rows at all
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = rgb.shape[:2]
    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
           + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
           + chunk(b"IEND", b""))
    write_atomic(path, lambda f: f.write(png))


def make_generated(dec_dir):
    """Variants absent from both folders: EXIF rotation, CMYK JPEG, 1-bit,
    palette+tRNS, interlaced and 16-bit PNG."""
    sk = dict(FOLDERS)["skimage"]
    rocket = Image.open(require(f"{sk}/rocket.jpg")).convert("RGB")
    for orient in (6, 3):
        exif = Image.Exif()
        exif[0x0112] = orient
        save_image(f"{dec_dir}/exif-{orient}.jpg", rocket, quality=95, exif=exif.tobytes())
    save_image(f"{dec_dir}/cmyk.jpg", rocket.convert("CMYK"), quality=95)

    camera = Image.open(require(f"{sk}/camera.png")).convert("L")
    save_image(f"{dec_dir}/bilevel.png", camera.point(lambda v: 255 if v > 110 else 0).convert("1"))

    chelsea = Image.open(require(f"{sk}/chelsea.png")).convert("RGB")
    pal = chelsea.quantize(colors=64, dither=Image.Dither.NONE)
    save_image(f"{dec_dir}/palette-trns.png", pal, transparency=0)

    coffee = np.asarray(Image.open(require(f"{sk}/coffee.png")).convert("RGB"))
    write_adam7_png(f"{dec_dir}/interlaced.png", coffee[100:183, 200:261])  # 83x61: odd, so passes are ragged

    ramp = (np.arange(97 * 131, dtype=np.uint32).reshape(97, 131) * 5 % 65536).astype(np.uint16)
    save_image(f"{dec_dir}/gray16.png", Image.fromarray(ramp))  # 16-bit gray: expected to be skipped

    return [f"{dec_dir}/{n}" for n in ("exif-6.jpg", "exif-3.jpg", "cmyk.jpg", "bilevel.png",
                                       "palette-trns.png", "interlaced.png", "gray16.png")]


def decode_entry(tag, path, dec_dir):
    name = f"{tag}-{os.path.splitext(os.path.basename(path))[0]}"
    im = Image.open(path)
    fmt = {"JPEG": "jpeg", "PNG": "png"}.get(im.format)
    if fmt is None:
        die(f"unexpected format {im.format} for {path}")
    orient = im.getexif().get(0x0112)
    e = {"name": name, "path": os.path.abspath(path), "format": fmt, "mode": im.mode,
         "progressive": None, "interlaced": None, "bit_depth": None,
         "exif_orientation": int(orient) if orient is not None else None}
    if fmt == "jpeg":
        e["progressive"] = bool(im.info.get("progressive", 0))
        e["bit_depth"] = int(im.bits)
    else:
        e["bit_depth"], _, e["interlaced"] = png_ihdr(path)
        if e["bit_depth"] == 16:
            # OpenCV keeps each sample's high byte (as our decoder does); Pillow clips 16-bit gray
            # instead, so only OpenCV's result is the reference here.
            cv = cv2.imread(path, cv2.IMREAD_COLOR)
            if cv is None:
                die(f"OpenCV could not read {path}")
            e["pillow"], e["opencv"], e["pillow_equals_opencv"] = None, f"{name}.opencv.npy", False
            e["pillow_transposed"] = None
            save_npy(f"{dec_dir}/{e['opencv']}", cv)
            return e

    pil = np.asarray(im.convert("RGB"))
    cv = cv2.imread(path, cv2.IMREAD_COLOR)
    if cv is None:
        die(f"OpenCV could not read {path}")
    e["pillow"] = f"{name}.pillow.npy"
    save_npy(f"{dec_dir}/{e['pillow']}", pil)
    e["pillow_equals_opencv"] = pil.shape == cv.shape and bool(np.array_equal(pil, cv[..., ::-1]))
    # OpenCV's array is stored only where it differs (it is otherwise Pillow's with BGR order): half the disk.
    e["opencv"] = None if e["pillow_equals_opencv"] else f"{name}.opencv.npy"
    if e["opencv"]:
        save_npy(f"{dec_dir}/{e['opencv']}", cv)
    if not e["pillow_equals_opencv"] and pil.shape == cv.shape:
        e["max_abs_diff"] = int(np.abs(pil.astype(np.int16) - cv[..., ::-1]).max())
    e["pillow_transposed"] = None
    if orient not in (None, 1):
        # OpenCV honours EXIF orientation, Pillow only on request
        pt = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        e["pillow_transposed"] = f"{name}.pillow_transposed.npy"
        save_npy(f"{dec_dir}/{e['pillow_transposed']}", pt)
        e["pillow_transposed_equals_opencv"] = pt.shape == cv.shape and bool(np.array_equal(pt, cv[..., ::-1]))
    return e


def make_decode(out):
    dec_dir = f"{out}/decode"
    os.makedirs(dec_dir, exist_ok=True)
    sources = []
    for tag, folder in FOLDERS:
        if not os.path.isdir(folder):
            die(f"missing input folder: {folder}")
        files = sorted(p for p in glob.glob(f"{folder}/*")
                       if p.lower().endswith((".jpg", ".jpeg", ".png")))
        if not files:
            die(f"no .jpg/.png files in {folder}")
        sources += [(tag, p) for p in files]
    sources += [("generated", p) for p in make_generated(dec_dir)]

    index = []
    for tag, path in sources:
        index.append(decode_entry(tag, path, dec_dir))
    save_json(f"{dec_dir}/index.json", index)
    log(f"decode: {len(index)} entries, {sum('skip' in e for e in index)} skipped")


# ---------------------------------------------------------------- 2. resize

INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}


def ultralytics_geometry(h, w, th, tw):
    """Ultralytics LetterBox (center=True, auto=False, scaleup=True), Python floats."""
    r = min(th / h, tw / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (tw - new_w) / 2, (th - new_h) / 2
    return {"new_h": new_h, "new_w": new_w,
            "top": int(round(dh - 0.1)), "bottom": int(round(dh + 0.1)),
            "left": int(round(dw - 0.1)), "right": int(round(dw + 0.1))}


def opencv_geometry(h, w, th, tw):
    """cv::dnn blobFromImagesWithParams, DNN_PMODE_LETTERBOX: single-precision
    factor, truncating casts, integer halving (the odd pixel goes bottom/right)."""
    f32 = np.float32
    factor = min(f32(tw) / f32(w), f32(th) / f32(h))
    rh, rw = int(f32(h) * factor), int(f32(w) * factor)
    top, left = (th - rh) // 2, (tw - rw) // 2
    return {"new_h": rh, "new_w": rw, "top": top, "bottom": th - top - rh,
            "left": left, "right": tw - left - rw}


def real_bgr(tag_file):
    tag, fname = tag_file.split("/")
    img = cv2.imread(require(f"{dict(FOLDERS)[tag]}/{fname}"), cv2.IMREAD_COLOR)
    if img is None:
        die(f"OpenCV could not read {tag_file}")
    return img


def make_resize(out):
    res_dir = f"{out}/resize"
    os.makedirs(res_dir, exist_ok=True)

    def rand(seed, h, w):
        return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)

    def letterbox_dst(h, w, th=640, tw=640):
        g = ultralytics_geometry(h, w, th, tw)
        return g["new_h"], g["new_w"]

    # the seed workload: a real photo brought to 900x1200 first (INTER_AREA, as allowed)
    seed_src = cv2.resize(real_bgr("opencvdoc/aloeL.jpg"), (1200, 900), interpolation=cv2.INTER_AREA)
    messi = real_bgr("opencvdoc/messi5.jpg")
    astro = real_bgr("skimage/astronaut.png")
    rocket = real_bgr("skimage/rocket.jpg")
    hubble = real_bgr("skimage/hubble_deep_field.jpg")
    building = real_bgr("opencvdoc/building.jpg")
    coffee = real_bgr("skimage/coffee.png")

    # (case, source description, src image, dst_h, dst_w)
    geoms = [
        ("up-7x5-13x11", "random seed 1", rand(1, 7, 5), 13, 11),
        ("down-37x53-20x17", "random seed 2", rand(2, 37, 53), 20, 17),
        ("up-101x99-480x640", "random seed 3", rand(3, 101, 99), 480, 640),
        ("1x1-5x7", "random seed 4", rand(4, 1, 1), 5, 7),
        ("5x7-1x1", "random seed 5", rand(5, 5, 7), 1, 1),
        ("row-1x500-3x640", "random seed 6", rand(6, 1, 500), 3, 640),
        ("col-500x1-640x3", "random seed 7", rand(7, 500, 1), 640, 3),
        ("strip-2x1000-1x427", "random seed 8", rand(8, 2, 1000), 1, 427),
        ("half-64x48-32x24", "random seed 9", rand(9, 64, 48), 32, 24),
        ("double-24x32-48x64", "random seed 10", rand(10, 24, 32), 48, 64),
        ("third-99x75-33x25", "random seed 11", rand(11, 99, 75), 33, 25),
        ("identity-33x47", "random seed 12", rand(12, 33, 47), 33, 47),
        ("mixed-50x300-120x70", "random seed 13", rand(13, 50, 300), 120, 70),
        ("bigdown-1000x750-37x29", "random seed 14", rand(14, 1000, 750), 37, 29),
        ("nonint-100x100-30x30", "random seed 15", rand(15, 100, 100), 30, 30),
        ("crop-coffee-123x301-67x163", "skimage/coffee.png BGR rows 50:173 cols 100:401",
         coffee[50:173, 100:401], 67, 163),
        ("seed-900x1200-480x640", "opencvdoc/aloeL.jpg BGR, INTER_AREA to 900x1200", seed_src, 480, 640),
        ("lb-messi", "opencvdoc/messi5.jpg BGR", messi, *letterbox_dst(*messi.shape[:2])),
        ("lb-astronaut-416", "skimage/astronaut.png BGR", astro, *letterbox_dst(*astro.shape[:2], 416, 416)),
        ("lb-rocket-416", "skimage/rocket.jpg BGR", rocket, *letterbox_dst(*rocket.shape[:2], 416, 416)),
        ("lb-hubble", "skimage/hubble_deep_field.jpg BGR", hubble, *letterbox_dst(*hubble.shape[:2])),
        ("lb-building", "opencvdoc/building.jpg BGR", building, *letterbox_dst(*building.shape[:2])),
    ]
    index = []
    for case, desc, src, dh, dw in geoms:
        src = np.ascontiguousarray(src)
        src_file = f"{case}.src.npy"  # one source file shared by the three interpolations
        save_npy(f"{res_dir}/{src_file}", src)
        for interp, flag in INTERP.items():
            name = f"{case}-{interp}"
            out_img = cv2.resize(src, (dw, dh), interpolation=flag)
            if out_img.shape != (dh, dw, 3):
                die(f"resize {name}: unexpected shape {out_img.shape}")
            save_npy(f"{res_dir}/{name}.out.npy", out_img)
            index.append({"name": name, "src": src_file, "out": f"{name}.out.npy",
                          "src_h": src.shape[0], "src_w": src.shape[1], "dst_h": dh, "dst_w": dw,
                          "interpolation": interp, "source": desc})
    save_json(f"{res_dir}/index.json", index)
    log(f"resize: {len(index)} cases")


# ---------------------------------------------------------------- 3. geometry

def blob_params(th, tw, scale, swap_rb, border):
    p = cv2.dnn.Image2BlobParams()
    p.scalefactor = (scale,) * 4
    p.size = (tw, th)  # cv::Size is (width, height)
    p.mean = (0, 0, 0, 0)
    p.swapRB = swap_rb
    p.ddepth = cv2.CV_32F
    p.datalayout = cv2.DNN_LAYOUT_NCHW
    p.paddingmode = cv2.dnn.DNN_PMODE_LETTERBOX
    p.borderValue = (border,) * 3 + (0,)
    return p


def measure_opencv(h, w, th, tw):
    """Run OpenCV itself on an all-255 image with a 0 border and read the box back."""
    img = np.full((h, w, 3), 255, np.uint8)
    try:
        blob = cv2.dnn.blobFromImageWithParams(img, blob_params(th, tw, 1.0, False, 0))
    except cv2.error:
        return None  # zero-sized resize target: OpenCV asserts
    rows = np.flatnonzero(blob[0, 0].any(axis=1))
    cols = np.flatnonzero(blob[0, 0].any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    rh, rw = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    return {"new_h": rh, "new_w": rw, "top": top, "bottom": th - top - rh,
            "left": left, "right": tw - left - rw}


def float64_floor_geometry(h, w, th, tw):
    # what the OpenCV formula would give in double precision; only used to find
    # sizes where single precision matters, so the check below covers them
    factor = min(tw / w, th / h)
    return int(h * factor), int(w * factor)


def make_geometry(out):
    specials = [(1000, 1500), (900, 1200), (1, 1), (1, 5000), (5000, 1), (427, 640), (640, 427),
                (640, 640), (641, 639), (480, 640), (1080, 1920), (1920, 1080), (3024, 4032),
                (2, 3), (3, 2), (7, 13), (97, 89), (331, 4001), (997, 1009), (1999, 13),
                (13, 1999), (4001, 3989), (383, 641), (415, 417)]
    rng = np.random.default_rng(20240607)
    randoms = [tuple(int(v) for v in rng.integers(1, 4001, 2)) for _ in range(300)]
    sizes = list(dict.fromkeys(specials + randoms))  # dedupe, keep order

    entries = []
    for h, w in sizes:
        for th, tw in TARGETS:
            u, o = ultralytics_geometry(h, w, th, tw), opencv_geometry(h, w, th, tw)
            e = {"h": h, "w": w, "th": th, "tw": tw, "ultralytics": u, "opencv": o}
            # a zero side means cv2.resize asserts: both pipelines fail on such input
            e["degenerate"] = min(u["new_h"], u["new_w"], o["new_h"], o["new_w"]) == 0
            entries.append(e)

    # verify the OpenCV formula against OpenCV: all specials, every size where
    # float32 and float64 disagree, and a spread of random ones (~30+ in total)
    f32_matters = [e for e in entries
                   if float64_floor_geometry(e["h"], e["w"], e["th"], e["tw"])
                   != (e["opencv"]["new_h"], e["opencv"]["new_w"])]
    to_check = [e for e in entries if (e["h"], e["w"]) in specials and e["th"] == e["tw"] == 640]
    to_check += f32_matters + entries[len(specials) * 3::97]
    checked = set()
    for e in to_check:
        key = (e["h"], e["w"], e["th"], e["tw"])
        if key in checked:
            continue
        checked.add(key)
        got = measure_opencv(*key)
        want = None if min(e["opencv"]["new_h"], e["opencv"]["new_w"]) == 0 else e["opencv"]
        if got != want:
            die(f"OpenCV letterbox formula disagrees with cv2 for {key}: formula {want}, measured {got}")
        e["opencv_verified"] = True
    n_diff = sum(e["ultralytics"] != e["opencv"] for e in entries)
    log(f"geometry: {len(entries)} entries, {len(checked)} verified against cv2 "
        f"({len(f32_matters)} where float32 matters), ultralytics != opencv in {n_diff}")
    save_json(f"{out}/geometry.json", {
        "targets_hw": TARGETS,
        "note": "opencv_verified marks entries measured with cv2.dnn.blobFromImageWithParams; "
                "degenerate marks a zero-sized resize, on which cv2.resize asserts",
        "entries": entries})


# ---------------------------------------------------------------- 4. letterbox

def make_letterbox(out):
    lb_dir = f"{out}/letterbox"
    os.makedirs(lb_dir, exist_ok=True)
    border_f32 = np.float32(114) * INV255  # border is added to the uint8 image, then scaled
    index = []
    # chelsea (300x451) is one where the two geometries differ (426 vs 425 rows)
    for tag_file in ("opencvdoc/messi5.jpg", "skimage/chelsea.png",
                     "skimage/astronaut.png", "skimage/rocket.jpg"):
        tag, fname = tag_file.split("/")
        name = f"{tag}-{os.path.splitext(fname)[0]}"
        bgr = real_bgr(tag_file)
        h, w = bgr.shape[:2]

        blob = cv2.dnn.blobFromImageWithParams(bgr, blob_params(640, 640, 1 / 255, True, 114))
        go = opencv_geometry(h, w, 640, 640)
        if blob.shape != (1, 3, 640, 640) or blob.dtype != np.float32:
            die(f"{name}: unexpected blob {blob.shape} {blob.dtype}")
        inner = (slice(None), slice(None), slice(go["top"], go["top"] + go["new_h"]),
                 slice(go["left"], go["left"] + go["new_w"]))
        border = np.ones(blob.shape, bool)
        border[inner] = False
        if not np.all(blob[border] == border_f32):
            die(f"{name}: blob border is not float32(114)*float32(1/255): {np.unique(blob[border])[:5]}")
        # the inside must be resize -> float32 -> * float32(1/255), RGB order
        rs = cv2.resize(bgr, (go["new_w"], go["new_h"]), interpolation=cv2.INTER_LINEAR)
        inside_ok = bool(np.array_equal(blob[inner][0],
                                        rs[..., ::-1].transpose(2, 0, 1).astype(np.float32) * INV255))

        gu = ultralytics_geometry(h, w, 640, 640)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        canvas = np.full((640, 640, 3), 114, np.uint8)
        canvas[gu["top"]:gu["top"] + gu["new_h"], gu["left"]:gu["left"] + gu["new_w"]] = \
            cv2.resize(rgb, (gu["new_w"], gu["new_h"]), interpolation=cv2.INTER_LINEAR)
        ultra = (canvas.transpose(2, 0, 1).astype(np.float32) * INV255)[None]

        e = {"name": name, "image": os.path.abspath(f"{dict(FOLDERS)[tag]}/{fname}"),
             "opencv_blob": f"{name}.opencv-blob.npy", "ultralytics": f"{name}.ultralytics.npy",
             "geometry_opencv": go, "geometry_ultralytics": gu,
             "border_value": float(border_f32),
             "border_value_f32_hex": "0x%08x" % border_f32.view(np.uint32),
             "opencv_inside_equals_resize_times_f32_inv255": inside_ok,
             "same_geometry": go == gu,
             "max_abs_diff_opencv_vs_ultralytics": float(np.abs(blob - ultra).max())}
        save_npy(f"{lb_dir}/{e['opencv_blob']}", blob)
        save_npy(f"{lb_dir}/{e['ultralytics']}", ultra)
        index.append(e)
    save_json(f"{lb_dir}/index.json", {
        "note": "Both arrays are float32 [1,3,640,640], RGB, value = float32(uint8) * float32(1/255). "
                "OpenCV pads the uint8 image with 114 before scaling, so its border is "
                "float32(114)*float32(1/255) = 0.44705886 (0x3ee4e4e6), not float32(114/255) = "
                "0.44705883; the Ultralytics-style array gets the same value the same way.",
        "entries": index})
    log(f"letterbox: {len(index)} images")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    make_geometry(out)  # first: cheapest, and it dies loudly if the formula is wrong
    make_decode(out)
    make_resize(out)
    make_letterbox(out)


if __name__ == "__main__":
    main()
