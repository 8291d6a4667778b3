#!/usr/bin/env python3
"""vitc explain with several images or a folder (--out DIR), its refusals, and the compare
report's contents (label names over the confusion matrix columns, a date, a gallery by class, no
placeholder section). Standard library only; run by ctest (tests/CMakeLists.txt)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import struct
import zlib

FAILURES = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        FAILURES.append(what)


def run(vitc, *args):
    p = subprocess.run([vitc, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def colour_png(path, width=40, height=30):
    """A red-and-blue RGB PNG, wider than tall (the bundled models read grey 28x28)."""
    rows = b"".join(b"\x00" + b"".join(b"\xc8\x1e\x28" if x < width // 2 else b"\x28\x1e\xc8" for x in range(width))
                    for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vitc", required=True)
    ap.add_argument("--assets", required=True)
    args = ap.parse_args()
    vitc, assets = args.vitc, args.assets
    work = tempfile.mkdtemp(prefix="vitc-explain-")
    try:
        # Several images to a folder: one PNG per image, named after it.
        out = os.path.join(work, "pictures")
        rc, so, se = run(vitc, "explain", os.path.join(assets, "trouser.png"), os.path.join(assets, "bag.png"),
                         "--out", out)
        check(rc == 0, f"explain A B --out DIR exits 0 (got {rc}; {se.strip()})")
        for name in ("trouser.png", "bag.png"):
            path = os.path.join(out, name)
            check(os.path.isfile(path) and is_png(path), f"{name} written as a PNG in --out DIR")
        check("explained 2 of 2 images" in so, "explain A B says it explained 2 of 2")

        # A folder: every image of it, nothing written into it.
        before = sorted(os.listdir(assets))
        out2 = os.path.join(work, "folder")
        rc, so, se = run(vitc, "explain", assets, "--out", out2, "--model", os.path.join(os.path.dirname(assets), "models", "fashion-cnn"))
        check(rc == 0, f"explain DIR --out DIR exits 0 (got {rc}; {se.strip()})")
        check(sorted(os.listdir(out2)) == before, "one picture per image of the folder, named after it")
        check(sorted(os.listdir(assets)) == before, "nothing written into the input folder")
        check(so.count("Grad-CAM on layer3 (7x7)") == len(before), "the CNN gets Grad-CAM on layer3 for every image")

        # A colour photo-like image: the conversion is said.
        photo_dir = os.path.join(work, "photo")
        os.makedirs(photo_dir)
        colour_png(os.path.join(photo_dir, "colour.png"))
        rc, so, se = run(vitc, "explain", os.path.join(photo_dir, "colour.png"), "--out", os.path.join(work, "colour-explained.png"))
        check(rc == 0 and "(input converted: colour to grey, aspect ratio changed)" in so,
              f"explaining a colour image says what the model saw instead ({so.strip()} {se.strip()})")

        # Refusals: two images and one picture; an output folder that is (or is in) an input folder.
        x = os.path.join(work, "x.png")
        rc, so, se = run(vitc, "explain", os.path.join(assets, "trouser.png"), os.path.join(assets, "bag.png"),
                         "--out", x)
        check(rc == 2 and "is one picture, but 2 images were given" in se and not os.path.exists(x),
              f"explain A B --out x.png refused (rc {rc}; {se.strip()})")
        rc, so, se = run(vitc, "explain", assets, "--out", x)
        check(rc == 2 and "a folder was given" in se, f"explain DIR --out x.png refused (rc {rc}; {se.strip()})")
        rc, so, se = run(vitc, "explain", os.path.join(assets, "trouser.png"), os.path.join(assets, "bag.png"),
                         "--out", assets)
        check(rc == 2 and "is the folder of the input image" in se, f"--out the images' own folder refused (rc {rc}; {se.strip()})")
        rc, so, se = run(vitc, "explain", assets, "--out", os.path.join(assets, "sub"))
        check(rc == 2 and "inside the input folder" in se and not os.path.exists(os.path.join(assets, "sub")),
              f"--out inside the input folder refused (rc {rc}; {se.strip()})")

        # The compare report on a labelled folder: three ankle boots first in folder order, then
        # one image of each other class.
        labels = {"t-shirt-top": "T-shirt/top", "trouser": "Trouser", "pullover": "Pullover", "dress": "Dress",
                  "coat": "Coat", "sandal": "Sandal", "shirt": "Shirt", "sneaker": "Sneaker", "bag": "Bag",
                  "ankle-boot": "Ankle boot"}
        labelled = os.path.join(work, "labelled")
        for stem, label in labels.items():
            folder = os.path.join(labelled, label.replace("/", "_"))
            os.makedirs(folder)
            copies = 3 if stem == "ankle-boot" else 1
            for i in range(copies):
                shutil.copy(os.path.join(assets, stem + ".png"), os.path.join(folder, f"{stem}-{i}.png"))
        report_dir = os.path.join(work, "report")
        rc, so, se = run(vitc, "compare", labelled, "--threads", "1", "--out", report_dir)
        check(rc == 0, f"compare on a labelled folder exits 0 (got {rc}; {se.strip()})")
        html = open(os.path.join(report_dir, "report.html"), encoding="utf-8").read()
        for label in labels.values():
            header = '<th class="predicted"><span>' + label.replace("&", "&amp;") + "</span></th>"
            check(html.count(header) == 2, f"both confusion matrices name the column '{label}'")
        check(re.search(r" on \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", html) is not None, "the report is dated")
        check("Not run" not in html and "data-size-study" not in html, "no placeholder study section")
        shown = re.findall(r"<figcaption><code>([^<]*)</code>", html)
        first = [s.split("/")[0] for s in shown[:10]]
        check(len(shown) == 12 and len(set(first)) == 10,
              f"the gallery shows every class before any twice (first ten: {first})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
