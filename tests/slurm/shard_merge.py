#!/usr/bin/env python3
"""`vitc batch --shard K/N` and `vitc merge` as programs, without Slurm: three shards of a
labelled folder (with two undecodable files) merge into exactly the rows and the summary of one
unsharded run, in CSV and JSON Lines; incomplete, doubled and mismatched merges are refused and
name the files; the option errors are one clear line.

    shard_merge.py --vitc build/app/vitc --assets assets
Prints each check and 'N passed, M failed'; exit status 1 if any failed.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

SHARDS = 3
LABEL_FOLDERS = {"ankle-boot": "Ankle boot", "bag": "Bag", "coat": "Coat", "dress": "Dress",
                 "pullover": "Pullover", "sandal": "Sandal", "shirt": "Shirt", "sneaker": "Sneaker",
                 "t-shirt-top": "T-shirt_top", "trouser": "Trouser"}
results = []


def check(name, ok, detail=""):
    print("%s %-60s %s" % ("ok  " if ok else "FAIL", name, "" if ok else str(detail).strip()[-600:]), flush=True)
    results.append(bool(ok))


def make_folder(root, assets):
    for name, folder in LABEL_FOLDERS.items():
        os.makedirs(os.path.join(root, folder))
        for i in range(3):
            shutil.copy(os.path.join(assets, name + ".png"), os.path.join(root, folder, "%s, %d.png" % (name, i)))
    for name in ("Bag/broken.png", "loose broken.png"):
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"not a png")
    shutil.copy(os.path.join(assets, "coat.png"), os.path.join(root, "unlabelled coat.png"))
    return 3 * len(LABEL_FOLDERS) + 3


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def summary_lines(text):
    """The lines of a summary that do not depend on timing."""
    lines = text.splitlines()
    keep = [l for l in lines if l.startswith(("images:", "accuracy on"))]
    if "confusion matrix (rows: true label, columns: predicted index)" in lines:
        start = lines.index("confusion matrix (rows: true label, columns: predicted index)")
        keep += lines[start:start + 12]
    return keep


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--assets", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vitc-shard-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}

    def vitc(*argv):
        return subprocess.run([args.vitc] + list(argv), capture_output=True, text=True, timeout=300, env=env)

    try:
        folder = os.path.join(work, "images")
        total = make_folder(folder, args.assets)
        for ext in ("csv", "jsonl"):
            full = os.path.join(work, "full." + ext)
            single = vitc("batch", folder, "--out", full, "--top", "5", "--threads", "1", "--batch-size", "4")
            check("single run (%s) exits 1: two files are not images" % ext, single.returncode == 1, single.stderr)
            shards = []
            for k in range(SHARDS):
                out = os.path.join(work, "shard-%d.%s" % (k, ext))
                done = vitc("batch", folder, "--shard", "%d/%d" % (k, SHARDS), "--out", out, "--top", "5",
                            "--threads", "1", "--batch-size", "4", "--summary-json", out + ".summary.json")
                check("shard %d/%d (%s) runs" % (k, SHARDS, ext), done.returncode in (0, 1), done.stderr)
                shards.append(out)
            sizes = [read(s).count("\n") - (1 if ext == "csv" else 0) for s in shards]
            check("shards split the folder %d/%d/%d" % tuple(sizes), sum(sizes) == total and max(sizes) - min(sizes) <= 1)

            merged = os.path.join(work, "merged." + ext)
            done = vitc("merge", *reversed(shards), "--dir", folder, "--out", merged,
                        "--summary-json", os.path.join(work, "merged.json"))
            check("merge (%s) exits 1 like the single run" % ext, done.returncode == 1, done.stderr)
            check("merged rows (%s) equal the single run's" % ext, os.path.exists(merged) and read(merged) == read(full))
            check("merge prints the single run's counts, accuracy and confusion matrix",
                  summary_lines(done.stdout) == summary_lines(single.stdout) and len(summary_lines(done.stdout)) == 14,
                  done.stdout + "\n---\n" + single.stdout)
            check("merge sums the shards' times", "summed over 3 shard summaries" in done.stdout, done.stdout)

        shards = [os.path.join(work, "shard-%d.csv" % k) for k in range(SHARDS)]
        partial = os.path.join(work, "partial.csv")
        with open(shards[1], newline="", encoding="utf-8") as f:
            missing = [row["file"] for row in csv.DictReader(f)]
        done = vitc("merge", shards[0], shards[2], "--dir", folder, "--out", partial)
        check("merge without shard 1 is refused (exit 2), nothing written",
              done.returncode == 2 and not os.path.exists(partial), done.stderr)
        check("the refusal names the %d missing files" % len(missing),
              "%d files of the folder are in no shard output" % len(missing) in done.stderr and
              all(name in done.stderr for name in missing) and "--allow-partial" in done.stderr, done.stderr)
        done = vitc("merge", shards[0], shards[2], "--dir", folder, "--out", partial, "--allow-partial")
        check("--allow-partial writes the rows there are",
              done.returncode in (0, 1) and os.path.exists(partial) and
              read(partial).count("\n") == 1 + total - len(missing) and "partial" in done.stdout, done.stderr)

        doubled = os.path.join(work, "doubled.csv")
        done = vitc("merge", *shards, shards[1], "--dir", folder, "--out", doubled, "--allow-partial")
        check("a shard given twice is refused, even with --allow-partial",
              done.returncode == 2 and not os.path.exists(doubled) and "in more than one row" in done.stderr, done.stderr)
        top1 = os.path.join(work, "top1.csv")
        vitc("batch", folder, "--shard", "1/3", "--out", top1, "--threads", "1")
        done = vitc("merge", shards[0], top1, shards[2], "--dir", folder, "--out", doubled)
        check("shards with other columns (--top) are refused", done.returncode == 2 and "columns differ" in done.stderr,
              done.stderr)
        done = vitc("merge", *shards, "--dir", folder, "--out", os.path.join(work, "merged.jsonl"))
        check("CSV shards into a .jsonl output are refused", done.returncode == 2 and "format" in done.stderr, done.stderr)
        done = vitc("merge", *shards, "--dir", folder, "--out", os.path.join(folder, "merged.csv"))
        check("merge refuses to write into the folder", done.returncode == 2 and "never writes there" in done.stderr,
              done.stderr)
        done = vitc("merge", *shards, "--out", os.path.join(work, "m.csv"))
        check("merge needs --dir", done.returncode == 2 and "--dir DIR is needed" in done.stderr, done.stderr)

        for shard, message in (("3/3", "shard 3 does not exist; shards are numbered 0 to 2"),
                               ("1-3", "expected K/N (e.g. 0/4) or auto"),
                               ("auto", "SLURM_ARRAY_TASK_ID is not set")):
            done = vitc("batch", folder, "--shard", shard, "--out", os.path.join(work, "x.csv"))
            check("--shard %s: one clear line" % shard,
                  done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
