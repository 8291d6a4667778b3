#!/usr/bin/env python3
"""Hostile input, round two: one regression case (or a few) per class of the second hostile-input
report. Decoder CPU and memory bombs, special files as model files, deep JSON, strict safetensors,
preprocessing that blows up intermediate images or every output, terminal injection, hijackable
temporary files, outputs that cannot be written, arguments, unreadable folders, a batch that
must stop within 2 seconds of SIGTERM whatever its decoder is doing, and decoder temporary files
left behind.

    round_two.py --vitc build/app/vitc --model tests/data/vit/p4_gray_cls_hf_bf16 --seeds tests/hostile/seeds
Standard library only. Prints one line per check and 'N passed, M failed'; exit status 1 if any failed.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_hostile import png, read_safetensors, run_measured, write_safetensors  # noqa: E402

TIMEOUT_S = 30
MAX_RSS_MB = 1500
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")  # \t and \n are the only ones allowed


class Checks:
    def __init__(self):
        self.results = []

    def __call__(self, name, ok, detail=""):
        print("%s %-52s %s" % ("ok  " if ok else "FAIL", name, str(detail)[:150]))
        self.results.append(bool(ok))


def run(argv, timeout=TIMEOUT_S, **kw):
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


def expect_error(check, name, argv, status, must_name, must_say):
    """Exit status, one line on stderr naming the file and the reason, bounded time and memory."""
    code, stderr, rss_mb, timed_out = run_measured(argv)
    lines = [l for l in stderr.splitlines() if l.strip()]
    problems = []
    if timed_out:
        problems.append("hung")
    elif code != status:
        problems.append("status %s, expected %d" % (code, status))
    if len(lines) != 1:
        problems.append("%d lines on stderr" % len(lines))
    elif must_name not in lines[0] or must_say not in lines[0]:
        problems.append("message lacks %r or %r" % (must_name, must_say))
    if rss_mb > MAX_RSS_MB:
        problems.append("peak RSS %.0f MB" % rss_mb)
    check(name, not problems, "; ".join(problems) or "rss=%.0fMB %s" % (rss_mb, lines[0][-90:] if lines else ""))


def copy_model(src, dst, preprocessor=None, config_edit=None):
    shutil.copytree(src, dst)
    if preprocessor is not None:
        with open(os.path.join(dst, "preprocessor_config.json"), "w") as f:
            json.dump(preprocessor, f)
    if config_edit:
        c = json.load(open(os.path.join(dst, "config.json")))
        config_edit(c)
        with open(os.path.join(dst, "config.json"), "w") as f:
            json.dump(c, f)
    return dst


def many_scans_jpeg(seed, scans):
    """The seed JPEG with `scans` extra (empty) start-of-scan segments before its end marker."""
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    return seed[:-2] + sos * scans + b"\xff\xd9"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", required=True)
    args = parser.parse_args()
    vitc, model = args.vitc, args.model
    check = Checks()
    work = tempfile.mkdtemp(prefix="vitc-round2-")
    os.chmod(work, 0o755)
    try:
        images = os.path.join(work, "images")
        os.mkdir(images)
        models = os.path.join(work, "models")
        os.mkdir(models)
        good = png(28, 28)

        def image(name, data):
            path = os.path.join(images, name)
            with open(path, "wb") as f:
                f.write(data)
            return path

        classify = [vitc, "classify", "--model", model, "--threads", "1"]

        # 1. Decoder CPU bombs: a scan limit, and a deadline on every decode.
        seed = open(os.path.join(args.seeds, "small.jpg"), "rb").read()
        path = image("scans-20000.jpg", many_scans_jpeg(seed, 20000))
        expect_error(check, "cpu-bomb/jpeg-20000-scans", classify + [path], 1, path, "scans, over the limit")
        path = image("slow-9000x9000.png", png(9000, 9000, pixels=b"".join(b"\x00" + b"\x80" * 9000 for _ in range(9000))))
        start = time.monotonic()
        expect_error(check, "cpu-bomb/deadline-0.2s", classify + [path, "--decode-timeout", "0.2"], 1, path,
                     "took longer than 0.2 s")
        check("cpu-bomb/deadline kept", time.monotonic() - start < 10, "%.1f s" % (time.monotonic() - start))

        # 4. Memory: an HDR header declaring 10,000 x 10,000 float pixels; resizes past the limit.
        path = image("bomb.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 10000 +X 10000\n" + b"\x02\x02\x27\x10" * 64)
        expect_error(check, "memory/hdr-10000x10000", classify + [path], 1, path, "MiB decoded")
        tall = image("one-by-million.png", png(1, 1000000, pixels=b"\x00\x80" * 1000000))
        edge = copy_model(model, os.path.join(models, "shortest-edge"),
                          {"size": {"shortest_edge": 28}, "do_center_crop": True, "crop_size": 28})
        expect_error(check, "memory/shortest-edge-1x1000000", [vitc, "classify", tall, "--model", edge], 1, tall,
                     "over the limit of")
        huge = copy_model(model, os.path.join(models, "resize-30000"),
                          {"size": {"height": 30000, "width": 30000}, "do_center_crop": True, "crop_size": 28})
        path = image("good.png", good)
        expect_error(check, "memory/resize-30000-before-crop", [vitc, "classify", path, "--model", huge], 1, path,
                     "resizes this")

        # 3. Special files as model files: refused unread, never waited on.
        for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
            d = copy_model(model, os.path.join(models, "fifo-" + name))
            target = os.path.join(d, name)
            if os.path.exists(target):
                os.remove(target)
            os.mkfifo(target)
            expect_error(check, "special/fifo-" + name, [vitc, "info", "--model", d], 2, target, "FIFO")
        d = copy_model(model, os.path.join(models, "config-dev-zero"))
        os.remove(os.path.join(d, "config.json"))
        os.symlink("/dev/zero", os.path.join(d, "config.json"))
        expect_error(check, "special/config-is-dev-zero", [vitc, "info", "--model", d], 2, "config.json", "device")
        fifo_image = os.path.join(work, "fifo.png")
        os.mkfifo(fifo_image)
        expect_error(check, "special/fifo-image", classify + [fifo_image], 1, fifo_image, "FIFO")

        # 4. and 10. JSON and safetensors as strict as their references.
        def raw_config(name, text):
            d = copy_model(model, os.path.join(models, name))
            with open(os.path.join(d, "config.json"), "w") as f:
                f.write(text)
            return d
        config_text = open(os.path.join(model, "config.json")).read()
        d = raw_config("config-deep", config_text.rstrip()[:-1] + ', "x": ' + "[" * 1000000 + "]" * 1000000 + "}")
        expect_error(check, "json/config-nested-1e6", [vitc, "info", "--model", d], 2, "config.json", "nested more than 128")
        d = raw_config("config-duplicate-key", config_text.rstrip()[:-1] + ', "hidden_size": 7}')
        expect_error(check, "json/config-duplicate-key", [vitc, "info", "--model", d], 2, "config.json", "appears twice")
        d = raw_config("config-nul", config_text + "\x00garbage")
        expect_error(check, "json/config-nul", [vitc, "info", "--model", d], 2, "config.json", "NUL")
        header, body = read_safetensors(os.path.join(model, "model.safetensors"))
        names = sorted(k for k in header if k != "__metadata__")

        def weights(name, raw_header, data):
            d = copy_model(model, os.path.join(models, name))
            write_safetensors(os.path.join(d, "model.safetensors"), raw_header, data)
            expect_error(check, "safetensors/" + name, [vitc, "info", "--model", d], 2, "model.safetensors", "")
        text = json.dumps(header)
        weights("duplicate-name", (text[:-1] + ", " + json.dumps(names[0]) + ": " + json.dumps(header[names[0]]) + "}").encode(), body)
        weights("not-brace", (" " + text).encode(), body)
        weights("nul-in-header", text.encode() + b"\x00trailing", body)
        weights("bytes-after-last", text.encode(), body + b"\x00" * 16)
        weights("nested-1e5", (text[:-1] + ', "deep": ' + "[" * 100000 + "]" * 100000 + "}").encode(), body)
        hole = json.loads(text)
        for n in names:
            hole[n]["data_offsets"] = [o + 4 for o in hole[n]["data_offsets"]]
        weights("hole-before-first", json.dumps(hole).encode(), b"\x00" * 4 + body)

        # 10. Preprocessing that makes every output NaN or every image the same answer.
        for name, pre in (("std-1e-40", {"image_std": [1e-40]}), ("rescale-1e30", {"rescale_factor": 1e30})):
            d = copy_model(model, os.path.join(models, name), pre)
            expect_error(check, "preprocessing/" + name, [vitc, "info", "--model", d], 2, "preprocessor_config.json",
                         "range")

        # 8. Terminal injection: labels and file names with escapes, CR, BEL, NUL, newlines.
        config = json.load(open(os.path.join(model, "config.json")))
        classes = len(config.get("id2label", {})) or 10
        evil = {str(i): "\x1b[31mred\x07\r%d\x9b2J\u009b" % i for i in range(classes)}
        d = copy_model(model, os.path.join(models, "evil-labels"), config_edit=lambda c: c.update(id2label=evil))
        evil_dir = os.path.join(work, "evil")
        os.mkdir(evil_dir)
        for i, label in enumerate(["a\x1b]0;title\x07", "b\nvitc batch: error: forged", "c\rX"]):
            with open(os.path.join(evil_dir, label + ".png"), "wb") as f:
                f.write(good if i else b"broken")
        outputs = {}
        for name, argv in (("info", [vitc, "info", "--model", d]),
                           ("classify", [vitc, "classify", os.path.join(evil_dir, "b\nvitc batch: error: forged.png"),
                                         os.path.join(evil_dir, "a\x1b]0;title\x07.png"), "--model", d]),
                           ("batch", [vitc, "batch", evil_dir, "--model", d, "--out", os.path.join(work, "evil.csv")]),
                           ("batch-stdout-summary", [vitc, "batch", evil_dir, "--model", d])):
            r = run(argv)
            outputs[name] = r
            shown = (r.stderr if name == "batch-stdout-summary" else r.stdout + r.stderr)
            bad = RAW_CONTROL.search(shown)
            check("terminal/" + name + " prints no raw control character", bad is None,
                  repr(shown[max(0, bad.start() - 20):bad.start() + 20]) if bad else "status %d" % r.returncode)
        forged = [l for l in outputs["classify"].stderr.splitlines() if l.startswith(b"vitc batch: error: forged")]
        check("terminal/a newline in a name forges no line", not forged)
        rows = open(os.path.join(work, "evil.csv"), "rb").read()
        check("terminal/CSV keeps the exact labels and names", b"\x1b[31mred" in rows and b"b\nvitc batch" in rows)
        d_nul = copy_model(model, os.path.join(models, "nul-label"),
                           config_edit=lambda c: c.update(id2label={**evil, "0": "a\u0000b"}))
        expect_error(check, "terminal/label-with-nul-refused", [vitc, "info", "--model", d_nul], 2, "config.json", "NUL")

        # 7. Temporary files that could be hijacked: a link planted at the temporary's name.
        victim = os.path.join(work, "victim.txt")
        with open(victim, "w") as f:
            f.write("precious\n")
        ok_dir = os.path.join(work, "ok")
        os.mkdir(ok_dir)
        for i in range(3):
            with open(os.path.join(ok_dir, "%d.png" % i), "wb") as f:
                f.write(good)
        out = os.path.join(work, "hijack.csv")
        os.symlink(victim, out + ".partial")
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", out])
        check("temporary/planted link at <out>.partial refused", r.returncode == 2 and b"symbolic link" in r.stderr,
              r.stderr.decode(errors="replace").strip()[-100:])
        check("temporary/victim untouched", open(victim).read() == "precious\n")
        os.remove(out + ".partial")
        summary = os.path.join(work, "summary.json")
        os.symlink(victim, summary)
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", out, "--summary-json", summary])
        check("temporary/--summary-json that is a link refused, target untouched", r.returncode == 2 and
              open(victim).read() == "precious\n" and b"symbolic link" in r.stderr, r.stderr[-100:])
        png_out = os.path.join(work, "explain.png")
        os.symlink(victim, png_out)
        r = run([vitc, "explain", os.path.join(ok_dir, "0.png"), "--model", model, "--out", png_out])
        check("temporary/explain --out that is a link refused, target untouched",
              r.returncode == 2 and open(victim).read() == "precious\n", r.returncode)
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", "/dev/stdout"])
        check("temporary/--out /dev/stdout refused, /dev untouched", r.returncode == 2 and os.path.islink("/dev/stdout")
              and not [n for n in os.listdir("/dev") if n.startswith(("stdout.", ".stdout"))], r.stderr[-100:])
        stray = [n for n in os.listdir(work) if ".vitc-" in n]
        check("temporary/no temporary left behind", not stray, stray)

        # 9. Arguments.
        comma = os.path.join(work, "a,b.png")
        with open(comma, "wb") as f:
            f.write(good)
        r = run(classify + [comma, "--format", "json"])
        check("arguments/a comma in a file name", r.returncode == 0 and r.stdout.count(b"\n") == 1, r.stderr[-80:])
        r = run(classify + [comma, "--threads", "65535"])
        check("arguments/--threads 65535 refused", r.returncode == 2 and b"--threads" in r.stderr, r.returncode)
        r = run([vitc, "batch", ok_dir, "--model", model, "--batch-size", "100000000"])
        check("arguments/--batch-size 1e8 refused", r.returncode == 2 and b"--batch-size" in r.stderr, r.stderr[-80:])
        same = os.path.join(work, "same.csv")
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", same, "--summary-json", same])
        check("arguments/--out X --summary-json X refused", r.returncode == 2, r.stderr[-80:])
        top1 = os.path.join(work, "top1.csv")
        run([vitc, "batch", ok_dir, "--model", model, "--out", top1])
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", top1, "--resume", "--top", "3"])
        check("arguments/--resume with another --top refused", r.returncode == 2 and b"--top" in r.stderr, r.stderr[-100:])
        raw_dir = os.path.join(work.encode(), b"raw")
        os.mkdir(raw_dir)
        for name in (b"\xff.png", b"\xfe.png", b"\xfd\xfe.png"):
            with open(os.path.join(raw_dir, name), "wb") as f:
                f.write(good)
        jsonl = os.path.join(work, "raw.jsonl")
        run([vitc, "batch", raw_dir.decode(errors="surrogateescape"), "--model", model, "--out", jsonl])
        kept = [json.loads(l) for l in open(jsonl, encoding="utf-8")]
        check("arguments/non-UTF-8 names stay distinct in JSONL",
              len({bytes.fromhex(r["file_bytes"]) for r in kept if "file_bytes" in r}) == 3, kept[:1])
        r = run([vitc, "batch", raw_dir.decode(errors="surrogateescape"), "--model", model, "--out", jsonl, "--resume"])
        check("arguments/--resume repeats none of them", b"3 rows kept, 0 images to go" in r.stderr, r.stderr[-100:])

        # 11. Outputs that cannot be written, said before the work or when it happens.
        r = run([vitc, "batch", ok_dir, "--model", model, "--out", os.path.join(work, "images")])
        check("output/--out a folder refused up front", r.returncode == 2 and b"is a folder" in r.stderr, r.stderr[-80:])
        big_dir = os.path.join(work, "many")
        os.mkdir(big_dir)
        for i in range(200):
            with open(os.path.join(big_dir, "%03d.png" % i), "wb") as f:
                f.write(good)

        def small_files():  # writes past 2 KiB fail with EFBIG, as a full disk fails with ENOSPC
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
        r = run([vitc, "batch", big_dir, "--model", model, "--out", os.path.join(work, "full.csv"), "--batch-size", "4"],
                preexec_fn=small_files)
        check("output/a failed write stops the run with its reason", r.returncode == 2 and b"File too large" in r.stderr
              and r.stderr.count(b"progress:") < 20, r.stderr[-120:])
        if os.geteuid() == 0 and shutil.which("setpriv"):  # root reads every folder: run as nobody
            locked = os.path.join(work, "locked-tree")
            os.makedirs(os.path.join(locked, "secret"))
            for sub in ("", "secret"):
                with open(os.path.join(locked, sub, "x.png"), "wb") as f:
                    f.write(good)
            os.chmod(os.path.join(locked, "secret"), 0)
            r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", vitc, "batch", locked,
                     "--recursive", "--model", os.path.abspath(model)])
            check("output/an unreadable subfolder is reported", r.returncode == 1 and b"cannot read the folder secret" in r.stderr,
                  r.stderr[-120:])
        else:
            print("skip output/an unreadable subfolder is reported (needs root and setpriv)")

        # 2. A batch stops within 2 s of SIGTERM while its decoder works on a slow image.
        slow_dir = os.path.join(work, "slow")
        os.mkdir(slow_dir)
        slow = png(9000, 9000, pixels=b"".join(b"\x00" + b"\x80" * 9000 for _ in range(9000)))
        for i in range(6):
            with open(os.path.join(slow_dir, "%d.png" % i), "wb") as f:
                f.write(slow)
        out = os.path.join(work, "slow.csv")
        proc = subprocess.Popen([vitc, "batch", slow_dir, "--model", model, "--out", out, "--batch-size", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        took = time.monotonic() - signalled
        check("signal/SIGTERM during a slow decode stops within 2 s", took < 2 and proc.returncode == 130,
              "%.2f s, status %s" % (took, proc.returncode))
        check("signal/its rows are kept in --out", os.path.exists(out) and not os.path.exists(out + ".partial"))

        # 11. Nothing left behind: OpenCV writes formats it cannot decode from memory (PFM here) to a
        # temporary file, and OpenCV 4.6 leaves it when the header declares an empty image or the
        # decoder is killed; vitc's decoder keeps them in a folder of its own under $TMPDIR.
        tmp = os.path.join(work, "tmp")
        os.mkdir(tmp)
        env = dict(os.environ, TMPDIR=tmp)
        empty = image("empty.pfm", b"Pf\n0 5\n-1.0\n" + b"\0" * 40)
        fine = image("fine.pfm", b"Pf\n2 2\n-1.0\n" + struct.pack("<4f", 0.1, 0.5, 0.9, 1.0))
        big = image("big.pfm", b"Pf\n3000 3000\n-1.0\n" + b"\0\0\0\x3f" * 9000000)
        started = time.time()
        r = run(classify + [empty, fine], env=env)
        check("leftovers/an empty PFM is an error, a good one classified",
              r.returncode == 1 and b"empty.pfm" in r.stderr and b"fine.pfm\n  1." in r.stdout, r.stderr[-120:])
        run(classify + [big, "--decode-timeout", "0.01"], env=env)  # killed while OpenCV reads its file
        check("leftovers/nothing in $TMPDIR after the runs", os.listdir(tmp) == [], os.listdir(tmp)[:3])
        planted = [n for n in os.listdir("/tmp") if n.startswith("__opencv_temp.")
                   and os.path.getmtime(os.path.join("/tmp", n)) >= started - 1
                   and open(os.path.join("/tmp", n), "rb").read() == open(empty, "rb").read()]
        check("leftovers/nothing of ours in /tmp", not planted, planted[:3])
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", work])
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(check.results)
    print("%d passed, %d failed" % (passed, len(check.results) - passed))
    return 0 if passed == len(check.results) else 1


if __name__ == "__main__":
    sys.exit(main())
