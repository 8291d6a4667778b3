#!/usr/bin/env python3
"""`vitc study` end to end on a tiny labelled folder (24 images of 8x8, 3 classes), in seconds.

Checks: the run finishes; study.json parses and holds a ViT and a CNN point per size, each with a
test accuracy in [0, 1] over every test image, and the findings; report.html is a page with the
chart embedded; rerunning the same command continues (every run "done earlier", same points);
other settings in the same folder are refused; a size larger than the data is a clear error.
The tokens-per-image sweep (--patch-sizes 4,2,1 on 8x8 images: 5, 17 and 65 tokens with the class
token) writes one point per patch size and its table, and continues like the rest; a patch size
that does not divide the images is refused.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vitc", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "study")
        command = [args.vitc, "study", args.data, "--test", args.data, "--out", out, "--sizes", "6,12,21",
                   "--steps", "3", "--batch-size", "4", "--vit", "vit-tiny", "--cnn", "resnet-tiny", "--threads", "1"]
        r = subprocess.run(command, capture_output=True, text=True, timeout=300)
        check("study runs", r.returncode == 0, r.stderr[-500:] + r.stdout[-500:])
        study = json.load(open(os.path.join(out, "study.json")))
        points = study["points"]
        check("a ViT and a CNN point per size",
              sorted((p["family"], p["size"]) for p in points) ==
              sorted((f, s) for f in ("vit", "cnn") for s in (6, 12, 21)), points)
        check("test accuracy over every test image", all(p["test_images"] == 24 and 0 <= p["test_accuracy"] <= 1
                                                        and p["parameters"] > 0 and p["steps"] >= 3 for p in points), points)
        check("findings stated", study["findings"] and "points" in " ".join(study["findings"]), study["findings"])
        page = open(os.path.join(out, "report.html")).read()
        check("report with the chart embedded", "data:image/png;base64," in page and "What the data shows" in page)
        distance = study.get("attention_distance", {})
        check("the largest ViT's attention distance per block and head, with the CNN's receptive field",
              len(distance.get("blocks", distance.get("distance", []))) == 2 and page.count("data:image/png;base64,") == 2
              and os.path.exists(os.path.join(out, "attention_distance.png")), list(distance.keys()))

        again = subprocess.run(command, capture_output=True, text=True, timeout=300)
        check("rerun continues: nothing trained again", again.returncode == 0 and
              again.stdout.count("done earlier") == 6 and "== " not in again.stdout, again.stdout[-500:])
        check("rerun gives the same points", json.load(open(os.path.join(out, "study.json")))["points"] == points)

        other = subprocess.run(command[:-2] + ["--threads", "1", "--seed", "7"], capture_output=True, text=True)
        check("other settings in the same folder are refused", other.returncode == 2 and "other settings" in other.stderr,
              other.stderr)
        sweep_out = os.path.join(work, "sweep")
        sweep_command = [args.vitc, "study", args.data, "--test", args.data, "--out", sweep_out, "--sizes", "12",
                         "--steps", "2", "--batch-size", "4", "--vit", "vit-tiny", "--cnn", "resnet-tiny",
                         "--patch-sizes", "4,2,1", "--threads", "1"]
        r = subprocess.run(sweep_command, capture_output=True, text=True, timeout=300)
        check("the patch-size sweep runs", r.returncode == 0, r.stderr[-500:] + r.stdout[-500:])
        if r.returncode == 0:
            sweep = json.load(open(os.path.join(sweep_out, "study.json"))).get("patch_sweep", [])
            check("one point per patch size, with its tokens", [(p["patch_size"], p["tokens"], p["size"]) for p in sweep]
                  == [(4, 5, 12), (2, 17, 12), (1, 65, 12)] and all(0 <= p["test_accuracy"] <= 1 for p in sweep), sweep)
            page = open(os.path.join(sweep_out, "report.html")).read()
            check("the report has the sweep's table", "Tokens per image" in page and page.count("<td>65</td>") == 1)
            again = subprocess.run(sweep_command, capture_output=True, text=True, timeout=300)
            check("the sweep continues too", again.returncode == 0 and again.stdout.count("done earlier") == 5,
                  again.stdout[-500:])
        bad = subprocess.run(sweep_command[:-4] + ["--patch-sizes", "3", "--threads", "1"], capture_output=True,
                             text=True)
        check("a patch size that does not divide the images is refused",
              bad.returncode == 2 and "does not divide" in bad.stderr, bad.stderr)
        big = subprocess.run([args.vitc, "study", args.data, "--test", args.data, "--out", os.path.join(work, "b"),
                              "--sizes", "6,1000"], capture_output=True, text=True)
        check("a size larger than the data is refused", big.returncode == 2 and "1000" in big.stderr, big.stderr)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
