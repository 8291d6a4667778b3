#!/usr/bin/env python3
"""Export Fashion-MNIST as 8-bit grayscale PNGs (exact pixel values).

  --out DIR      writes DIR/<class folder>/<index:05d>.png for every image of the split
                 (class folder = label with '/' replaced by '_', e.g. "T-shirt_top", "Ankle boot").
  --per-class N  with --out: only the first N images of each class (a small labelled folder).
  --samples DIR  writes DIR/<class>.png, the first image of each class in the split
                 (class = label in lower case, non-alphanumerics -> '-', e.g. "t-shirt-top.png").
                 The repository's assets/ were made with: --split test --samples assets
"""
import argparse
import os
import re
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist import LABELS, folder_name, load_split  # noqa: E402


def sample_name(label):
    return re.sub(r"[^a-z0-9]", "-", label.lower())


def save_png(img, path):
    Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), mode="L").save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["train", "test"], default="test")
    ap.add_argument("--out", help="output directory for the whole split")
    ap.add_argument("--samples", help="output directory for one sample per class")
    ap.add_argument("--per-class", type=int, default=0, help="with --out: the first N images of each class")
    args = ap.parse_args()
    if not args.out and not args.samples:
        ap.error("give --out and/or --samples")

    images, labels = load_split(args.split)
    if args.out:
        for lbl in LABELS:
            os.makedirs(os.path.join(args.out, folder_name(lbl)), exist_ok=True)
        written = [0] * len(LABELS)
        for i, (img, y) in enumerate(zip(images, labels)):
            if args.per_class and written[y] >= args.per_class:
                continue
            save_png(img, os.path.join(args.out, folder_name(LABELS[y]), f"{i:05d}.png"))
            written[y] += 1
        print(f"wrote {sum(written)} images to {args.out}")
    if args.samples:
        os.makedirs(args.samples, exist_ok=True)
        for c, lbl in enumerate(LABELS):
            i = int(np.flatnonzero(labels == c)[0])
            save_png(images[i], os.path.join(args.samples, sample_name(lbl) + ".png"))
            print(f"{sample_name(lbl)}.png <- {args.split} index {i} ({lbl})")


if __name__ == "__main__":
    main()
