#!/usr/bin/env python3
"""A batch over a folder of good and bad images, interrupted by SIGINT partway and resumed, must
give exactly one row per file, with the same results as an uninterrupted run.

    interrupt_resume.py --vitc build/app/vitc --model tests/data/vit/p4_gray_cls_hf_bf16
Prints each check and 'N passed, M failed'; exit status 1 if any failed.
"""
import argparse
import csv
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_hostile import png  # noqa: E402

IMAGES = 400


def make_folder(root):
    """Labelled folder (class0..class9) of large-ish PNGs (slow enough to decode that a signal
    lands midway), with a broken file every 25 images."""
    side = 700
    row = bytes((x * 255) // side for x in range(side))
    for i in range(IMAGES):
        label_dir = os.path.join(root, "class%d" % (i % 10))
        os.makedirs(label_dir, exist_ok=True)
        shift = i % 97
        pixels = b"".join(b"\x00" + row[shift:] + row[:shift] for _ in range(side))
        data = png(side, side, pixels=pixels) if i % 25 else b"broken %d" % i
        with open(os.path.join(label_dir, "img %03d.png" % i), "wb") as f:
            f.write(data)


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vitc-resume-")
    results = []

    def check(name, ok, detail=""):
        print("%s %-40s %s" % ("ok  " if ok else "FAIL", name, detail))
        results.append(bool(ok))

    try:
        folder = os.path.join(work, "images")
        make_folder(folder)
        base = [args.vitc, "batch", folder, "--model", args.model, "--threads", "1", "--batch-size", "2"]

        full = os.path.join(work, "full.csv")
        done = subprocess.run(base + ["--out", full], capture_output=True, text=True, timeout=600)
        check("uninterrupted run exits 1 (some files bad)", done.returncode == 1, "status=%d" % done.returncode)

        part = os.path.join(work, "part.csv")
        proc = subprocess.Popen(base + ["--out", part], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        signalled_at = None
        while proc.poll() is None and time.monotonic() < deadline:
            temporaries = glob.glob(part + ".partial")
            if temporaries and open(temporaries[0], errors="replace").read().count("\n") > IMAGES // 4:
                proc.send_signal(signal.SIGINT)
                signalled_at = time.monotonic()
                break
            time.sleep(0.005)
        out, err = proc.communicate(timeout=120)
        check("SIGINT arrived midway", signalled_at is not None)
        check("interrupted run exits 130", proc.returncode == 130, "status=%s" % proc.returncode)
        check("summary says interrupted", "interrupted" in out + err)
        kept = rows(part) if os.path.exists(part) else []
        check("rows so far kept in --out", 0 < len(kept) < IMAGES, "%d rows" % len(kept))
        check("no temporary file left", not glob.glob(part + ".partial") and not glob.glob(os.path.join(work, ".part.csv.*")))

        resumed = subprocess.run(base + ["--out", part, "--resume"], capture_output=True, text=True, timeout=600)
        check("resumed run exits 1", resumed.returncode == 1, "status=%d" % resumed.returncode)
        got, want = rows(part), rows(full)
        files = [r["file"] for r in got]
        check("one row per file", len(files) == len(set(files)) == IMAGES, "%d rows, %d distinct" % (len(files), len(set(files))))
        by_file = {r["file"]: r for r in got}
        mismatched = [r["file"] for r in want
                      if r["file"] not in by_file
                      or any(by_file[r["file"]][k] != r[k] for k in ("status", "label", "index", "true_label", "correct"))
                      or (r["prob"] and abs(float(by_file[r["file"]]["prob"]) - float(r["prob"])) > 1e-4)]
        check("same results as the uninterrupted run", not mismatched, ", ".join(mismatched[:3]))

        # SIGKILL (an OOM kill, a power cut): --resume keeps every row flushed before it.
        killed = os.path.join(work, "killed.csv")
        proc = subprocess.Popen(base + ["--out", killed], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        flushed = 0
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(killed + ".partial"):
                flushed = open(killed + ".partial", errors="replace").read().count("\n") - 1
                if flushed > IMAGES // 3:
                    proc.kill()
                    break
            time.sleep(0.005)
        proc.communicate(timeout=60)
        check("SIGKILL arrived midway", proc.returncode == -signal.SIGKILL and flushed > 0, "rows flushed: %d" % flushed)
        again = subprocess.run(base + ["--out", killed], capture_output=True, text=True, timeout=60)
        check("a new run without --resume refuses to discard them", again.returncode == 2 and "--resume" in again.stderr,
              again.stderr.strip()[-120:])
        resumed = subprocess.run(base + ["--out", killed, "--resume"], capture_output=True, text=True, timeout=600)
        kept = [l for l in resumed.stderr.splitlines() if "resuming" in l]
        kept_rows = int(kept[0].split("resuming: ")[1].split(" ")[0]) if kept else -1
        check("--resume after SIGKILL keeps every flushed row", kept_rows >= flushed, "kept %d of %d" % (kept_rows, flushed))
        got = rows(killed)
        files = [r["file"] for r in got]
        check("after SIGKILL and --resume: one row per file", len(files) == len(set(files)) == IMAGES,
              "%d rows, %d distinct" % (len(files), len(set(files))))
        by_file = {r["file"]: r for r in got}
        check("after SIGKILL and --resume: same results",
              all(r["file"] in by_file and by_file[r["file"]]["label"] == r["label"] for r in want))
        check("no .partial left after the resumed run", not os.path.exists(killed + ".partial"))
        check("input folder untouched", all(f.endswith(".png") for _, _, fs in os.walk(folder) for f in fs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
