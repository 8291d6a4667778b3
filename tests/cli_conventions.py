#!/usr/bin/env python3
"""A new user's first hour, as tests: labelled folders that never shrink silently, what the model
really saw, and the command-line conventions people expect (help, version, usage errors, install,
quiet, progress, closed pipes, file lists, JSON on stdout, one JSON shape, CSV with indices,
--resume summaries over the whole folder, info's label list).

    cli_conventions.py --vitc build/app/vitc --model tests/data/vit/p4_gray_cls_hf_bf16 --assets assets --build build
Standard library only. Prints one line per check and 'N passed, M failed'; exit status 1 if any failed.
"""
import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile"))
from run_hostile import png  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--model", required=True, help="a small model whose labels are class0..class9")
    parser.add_argument("--assets", required=True)
    parser.add_argument("--build", required=True, help="the build folder, for cmake --install")
    args = parser.parse_args()
    vitc, model = args.vitc, args.model
    args.assets = os.path.abspath(args.assets)
    results = []

    def check(name, ok, detail=""):
        print("%s %-58s %s" % ("ok  " if ok else "FAIL", name, str(detail)[:160]))
        results.append(bool(ok))

    def run(argv, **kw):
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)

    work = tempfile.mkdtemp(prefix="vitc-cli-")
    try:
        # Usage, help, version.
        r = run([vitc])
        check("no arguments: one usage line on stderr, status 2", r.returncode == 2 and not r.stdout
              and len(r.stderr.strip().splitlines()) == 1, r.stderr.strip())
        r = run([vitc, "help", "batch"])
        check("vitc help batch shows batch's options", r.returncode == 0 and "--batch-size" in r.stdout, r.stdout[:60])
        r = run([vitc, "-V"])
        check("-V prints the version", r.returncode == 0 and r.stdout.startswith("vitc "), r.stdout.strip())
        r = run([vitc, "batch", args.assets, "--frobnicate"])
        check("an unknown option: one line on stderr, status 2", r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1,
              r.stderr.strip())
        r = run([vitc, "bench", "--help"])
        check("bench says --batch-size like the others", "--batch-size" in r.stdout and "--batch " not in r.stdout)

        # Labelled folders: names matched forgivingly; every image classified; the rest named.
        folder = os.path.join(work, "labelled")
        good = png(28, 28)
        layout = {"Class3": 3, "class_4": 2, "CLASS-5": 2, "misc": 3}
        for sub, n in layout.items():
            os.makedirs(os.path.join(folder, sub))
            for i in range(n):
                with open(os.path.join(folder, sub, "%d.png" % i), "wb") as f:
                    f.write(good)
        out = os.path.join(work, "labelled.csv")
        r = run([vitc, "batch", folder, "--model", model, "--out", out, "--top", "2"])
        rows = list(csv.DictReader(open(out, newline="")))
        check("every image of a labelled folder gets a row", len(rows) == 10, "%d rows" % len(rows))
        check("the summary names what was not scored", "not scored (no label matches the folder): misc (3)" in r.stdout,
              r.stdout)
        check("accuracy over the 7 images in label folders", "accuracy on 7 labelled images" in r.stdout)
        header = open(out).readline().strip().split(",")
        check("CSV top-k columns carry their indices", header[:8] == ["file", "status", "label", "index", "prob", "label2",
                                                                      "index2", "prob2"] and "converted" in header, header)
        summary = os.path.join(work, "summary.json")
        run([vitc, "batch", folder, "--model", model, "--out", os.path.join(work, "s.csv"), "--summary-json", summary])
        j = json.load(open(summary))
        check("--summary-json names the unscored folders", j.get("not_scored") == {"misc": 3}, j.get("not_scored"))

        report_dir = os.path.join(work, "report")
        r = run([vitc, "compare", folder, "--vit", model, "--cnn", model, "--threads", "1", "--out", report_dir])
        page = open(os.path.join(report_dir, "report.html")).read() if os.path.exists(report_dir) else ""
        check("compare's report names what was not scored", "Not scored (no label matches the folder): misc (3)" in page)
        check("compare names what was not scored", "not scored (no label matches the folder): misc (3)" in r.stdout,
              r.stdout[-200:])
        check("compare repeats its timings and shows the range", "median of 3 rounds" in r.stdout
              and "ms (" in r.stdout, [l for l in r.stdout.splitlines() if "latency" in l])
        check("compare's report shows the rounds and their range too", "Measured in 3 rounds" in page
              and len(re.findall(r"<small>\([0-9.]+ to [0-9.]+\)</small>", page)) == 4 and (("The machine was busy" in page) == ("note: the machine was busy" in r.stdout)))

        # --resume summarises the whole folder, not only the images done this time.
        partial = os.path.join(work, "partial.csv")
        lines = open(out).read().splitlines(True)
        run([vitc, "batch", folder, "--model", model, "--out", partial, "--top", "2"])
        with open(partial, "w") as f:
            f.writelines(lines[:5])  # header and four rows
        r = run([vitc, "batch", folder, "--model", model, "--out", partial, "--top", "2", "--resume"])
        check("--resume: the summary covers the whole folder", "images: 10, classified: 10, failed: 0 (4 of them kept"
              in r.stdout and "accuracy on 7 labelled images" in r.stdout, r.stdout.splitlines()[1:3])

        # What the model saw: a colour, wide image for a grey square model.
        photo = os.path.join(work, "photo.png")
        with open(photo, "wb") as f:
            f.write(png(64, 40, channels=3))
        r = run([vitc, "classify", photo, "--model", model, "--format", "json"])
        row = json.loads(r.stdout.splitlines()[0])
        check("classify JSON says what was converted", row.get("input", {}).get("converted") ==
              ["colour to grey", "aspect ratio changed"], row.get("input"))
        check("... and notes it once on stderr", r.stderr.count("note:") == 1, r.stderr.strip())
        r = run([vitc, "classify", photo, "--model", model, "--strict-input"])
        check("--strict-input refuses it", r.returncode == 1 and "--strict-input" in r.stderr, r.stderr.strip())
        photos = os.path.join(work, "photos")
        os.mkdir(photos)
        shutil.copy(photo, photos)
        shutil.copy(os.path.join(args.assets, "bag.png"), photos)
        r = run([vitc, "batch", photos, "--model", model, "--out", "-"])
        rows = [json.loads(l) for l in r.stdout.splitlines()]
        check("--out - writes JSON Lines on stdout", len(rows) == 2 and rows[0]["file"] == "bag.png", r.stdout[:80])
        check("one JSON shape: batch rows as classify's", set(rows[1]) >= {"file", "status", "top", "input"} and
              set(rows[1]["top"][0]) == {"label", "index", "prob"}, rows[1])
        check("batch notes the conversion once", "1 of 2 images were converted" in r.stderr, r.stderr.strip()[-120:])

        # File lists, quiet, closed pipes, progress.
        listing = os.path.join(work, "list.txt")
        with open(listing, "w") as f:
            f.write(os.path.join(args.assets, "bag.png") + "\n\n" + os.path.join(args.assets, "trouser.png") + "\n")
        r = run([vitc, "batch", "--files-from", listing, "--model", model, "--quiet"])
        check("--files-from and --quiet", r.returncode == 0 and r.stdout.count("\n") == 3 and not r.stderr,
              (r.stdout, r.stderr))
        r = run([vitc, "batch", "--files-from", "-", "--model", model, "--out", "-"], input=open(listing).read())
        check("--files-from - reads standard input", r.returncode == 0 and len(r.stdout.splitlines()) == 2)
        r = run([vitc, "batch", args.assets, "--model", model])
        check("progress shows elapsed time and the time left", "elapsed" in r.stderr and "left" in r.stderr,
              r.stderr.splitlines()[:1])
        many = os.path.join(work, "many")
        os.mkdir(many)
        for i in range(300):
            shutil.copy(os.path.join(args.assets, "bag.png"), os.path.join(many, "%03d.png" % i))
        p = subprocess.Popen("%s batch %s --model %s --batch-size 4 | head -1" % (vitc, many, model), shell=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        so, se = p.communicate(timeout=120)
        check("batch | head -1 ends cleanly (no SIGPIPE death)", so.startswith("file,status") and "error" not in se.lower()
              and "Broken pipe" not in se, se.strip()[-100:])

        # info lists many labels one per line.
        big = os.path.join(work, "many-labels")
        shutil.copytree(model, big)
        config = json.load(open(os.path.join(big, "config.json")))
        n = len(config["id2label"])
        config["id2label"] = {str(i): "label number %d" % i for i in range(n)}
        json.dump(config, open(os.path.join(big, "config.json"), "w"))
        r = run([vitc, "info", "--model", big])
        check("info: a handful of labels on one line", "0 label number 0, 1 label number 1" in r.stdout)

        # cmake --install puts vitc and the bundled models where the installed binary finds them.
        prefix = os.path.join(work, "prefix")
        r = run(["cmake", "--install", args.build, "--prefix", prefix])
        installed = os.path.join(prefix, "bin", "vitc")
        r2 = run([installed, "classify", os.path.join(args.assets, "trouser.png"), "--top", "1"], cwd=work,
                 env={k: v for k, v in os.environ.items() if k != "VITC_MODEL"})
        check("cmake --install: vitc finds its bundled model", r.returncode == 0 and "1. Trouser" in r2.stdout,
              (r.stderr[-80:], r2.stdout[-80:], r2.stderr[-80:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
