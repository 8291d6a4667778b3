#!/usr/bin/env python3
"""vitc explain --attention-distance on assets/: the bundled ViT against the bundled CNN's
receptive field, a mean-pooled ViT fixture, and a ViT without a class token trained for
one epoch on tests/data/train/images. The PNG is written, the JSON table beside
it parses and agrees with the printed table; the refusals (a ResNet as the ViT, --out not a
.png, --layer with it). Standard library only; run by ctest (tests/CMakeLists.txt)."""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from explain_report_cli import FAILURES, check, is_png, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vitc", required=True)
    ap.add_argument("--assets", required=True)
    ap.add_argument("--models", required=True, help="the bundled models/ folder")
    ap.add_argument("--mean-vit", required=True, help="a mean-pooled ViT fixture")
    ap.add_argument("--train-images", help="a small labelled folder to train a ViT without a class token on")
    args = ap.parse_args()
    vitc, assets = args.vitc, args.assets
    vit, cnn = os.path.join(args.models, "fashion-vit"), os.path.join(args.models, "fashion-cnn")
    images = sorted(f for f in os.listdir(assets) if f.endswith(".png"))
    work = tempfile.mkdtemp(prefix="vitc-attention-distance-")
    try:
        out = os.path.join(work, "distance.png")
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--model", vit, "--cnn", cnn, "--out", out)
        check(rc == 0, f"--attention-distance assets/ exits 0 (got {rc}; {se.strip()})")
        check(os.path.isfile(out) and is_png(out), "the plot is a PNG")
        table = os.path.join(work, "distance.json")
        check(os.path.isfile(table), "the table is written beside it as distance.json")
        with open(table) as f:
            t = json.load(f)
        check(t["renormalised"] is False and "not renormalised" in t["renormalisation"], "the JSON says rows are not renormalised")
        check(t["vit"]["patch_size"] == 4 and t["vit"]["grid"] == [7, 7] and t["vit"]["heads"] == 4,
              "the bundled ViT: patch 4, 7x7 grid, 4 heads")
        check(len(t["blocks"]) == 6 and all(len(b["distance"]) == 4 for b in t["blocks"]), "6 blocks x 4 heads")
        check(sorted(t["images"]) == images, f"every asset measured ({len(t['images'])} of {len(images)})")
        # Any distance lies between 0 and the grid's diameter (6 * 4 * sqrt 2 pixels).
        diameter = 6 * 4 * math.sqrt(2)
        check(all(0 < d < diameter for b in t["blocks"] for d in b["distance"]), "distances within the grid")
        check(all(0 <= s <= 1 for b in t["blocks"] for s in b["class_token_share"]), "class-token shares in [0, 1]")
        fields = [(l["stage"], l["receptive_field"]) for l in t["cnn"]["layers"] if l["stage_end"]]
        # fashion-cnn: small stem, two basic blocks per stage. conv 3x3/1: 3; layer1 four 3x3 convs:
        # +8 = 11; layer2 +2 (then jump 2) +3*4 = 25; layer3 +4 (jump 4) +3*8 = 53; layer4 +8 (jump 8) +3*16 = 109.
        check(fields == [("stem", 3), ("layer1", 11), ("layer2", 25), ("layer3", 53), ("layer4", 109)],
              f"fashion-cnn's receptive field per stage: 3, 11, 25, 53, 109 (got {fields})")
        first = " ".join(f"{d:6.2f}" for d in t["blocks"][0]["distance"])
        check(first in so, f"the printed table shows block 1's distances as in the JSON ({first})")

        # A mean-pooled ViT with a class token (3 channels, 16x16): the assets are converted.
        out2 = os.path.join(work, "mean.png")
        rc, so, se = run(vitc, "explain", "--attention-distance", os.path.join(assets, "bag.png"),
                         os.path.join(assets, "coat.png"), "--model", args.mean_vit, "--out", out2)
        check(rc == 0 and is_png(out2), f"a mean-pooled ViT fixture works (rc {rc}; {se.strip()})")
        with open(os.path.join(work, "mean.json")) as f:
            m = json.load(f)
        check(m["vit"]["grid"] == [4, 4] and len(m["blocks"]) == 2 and "cnn" not in m, "its grid, blocks, no CNN")

        # A mean-pooled ViT without a class token, trained here for one epoch: every row is all patches.
        if args.train_images:
            arch, trained = os.path.join(work, "no_class_token.json"), os.path.join(work, "no-class-token")
            with open(arch, "w") as f:
                json.dump({"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
                           "image_size": 8, "patch_size": 2, "num_channels": 1, "pooling": "mean",
                           "class_token": False, "position_embedding_type": "sincos2d"}, f)
            rc, so, se = run(vitc, "train", args.train_images, "--out", trained, "--arch", arch, "--epochs", "1",
                             "--batch-size", "8", "--threads", "1")
            check(rc == 0, f"a ViT without a class token trains ({se.strip()[-200:]})")
            out3 = os.path.join(work, "no-class-token.png")
            rc, so, se = run(vitc, "explain", "--attention-distance", args.train_images, "-r", "--model", trained,
                             "--out", out3)
            check(rc == 0 and is_png(out3) and "no class token" in so, f"and is measured ({se.strip()})")
            with open(os.path.join(work, "no-class-token.json")) as f:
                n = json.load(f)
            check(n["class_token"] == "none" and n["vit"]["grid"] == [4, 4] and len(n["blocks"]) == 2 and
                  all(s == 0 for b in n["blocks"] for s in b["class_token_share"]),
                  "its JSON: no class token, a 4x4 grid, 2 blocks, no class-token share")

        # Refusals: one line, no traceback.
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--model", cnn, "--out", out)
        check(rc == 2 and "measures a ViT's heads" in se and "is a resnet" in se and se.count("\n") == 1,
              f"a ResNet as the ViT is refused in one line ({se.strip()})")
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--model", vit, "--cnn", vit, "--out", out)
        check(rc == 2 and "the receptive field is drawn for a ResNet" in se, f"a ViT as --cnn is refused ({se.strip()})")
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--out", os.path.join(work, "x.jpg"))
        check(rc == 2 and "writes a .png plot" in se, f"--out not a .png is refused ({se.strip()})")
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--layer", "0", "--out", out)
        check(rc == 2 and "--layer" in se, f"--layer with it is refused ({se.strip()})")
        rc, so, se = run(vitc, "explain", assets, "--cnn", cnn, "--out", os.path.join(work, "pictures"))
        check(rc == 2 and "--attention-distance" in se, f"--cnn without it is refused ({se.strip()})")
        rc, so, se = run(vitc, "explain", "--attention-distance", assets, "--out", os.path.join(assets, "d.png"))
        check(rc == 2 and not os.path.exists(os.path.join(assets, "d.png")), "never writes into the input folder")
        rc, so, se = run(vitc, "explain", "--help")
        check("--attention-distance" in so and "--cnn" in so, "--help lists --attention-distance and --cnn")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
