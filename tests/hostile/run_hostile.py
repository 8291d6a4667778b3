#!/usr/bin/env python3
"""Hostile-input test: builds a corpus of broken, crafted and odd files (images and model
directories) and runs `vitc` on each, checking the exit status, that a failure is exactly one
line naming the file, that nothing crashes or hangs (timeout), and that peak memory stays bounded.

Standard library only, so the test suite needs no Python packages:
    run_hostile.py --vitc build/app/vitc --model tests/data/vit/p4_gray_cls_hf_bf16 --seeds tests/hostile/seeds
Prints one line per case and 'N passed, M failed'; exit status 1 if any failed.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

TIMEOUT_S = 30
MAX_RSS_MB = 1500  # far above the ~100 MB a small model needs; a bomb would blow past it


# ----------------------------------------------------------------------------- image bytes
def png(width, height, channels=1, depth=8, pixels=None, bad_crc=False):
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bytes_per_sample = depth // 8
    if pixels is None:
        row = bytes(range(256)) * (width * channels * bytes_per_sample // 256 + 1)
        row = row[: width * channels * bytes_per_sample]
        pixels = b"".join(b"\x00" + row for _ in range(height))

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) ^ (0xFFFFFFFF if bad_crc and kind == b"IDAT" else 0)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def jpeg_with_size(seed, width, height):
    """The seed JPEG with its frame header rewritten to declare width x height."""
    data = bytearray(seed)
    i = 2
    while i + 9 < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF marker in seed")


def make_images(root, seeds):
    """Returns (name, path, expected_ok) for each image case."""
    small_jpg = open(os.path.join(seeds, "small.jpg"), "rb").read()
    good_png = png(28, 28)
    cases = []

    def add(name, data, ok):
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(data)
        cases.append((name, path, ok))

    add("empty.png", b"", False)
    add("truncated.png", good_png[: len(good_png) // 2], False)
    add("header-only.png", good_png[:33], False)
    add("truncated.jpg", small_jpg[: len(small_jpg) // 3], False)
    add("text-named.png", b"this is a text file, not an image\n", False)
    add("random-bytes.jpg", bytes((i * 7919 + 13) % 256 for i in range(4096)), False)
    add("png-bomb-100000x100000.png", png(100000, 100000, pixels=b"\x00" * 10), False)
    add("jpeg-bomb-65535x65535.jpg", jpeg_with_size(small_jpg, 65535, 65535), False)
    add("gif-bomb.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 32, False)
    add("bmp-bomb.bmp", b"BM" + b"\x00" * 16 + struct.pack("<ii", 2000000, -2000000) + b"\x00" * 64, False)
    add("pnm-bomb.pgm", b"P5\n99999999 99999999\n255\n" + b"\x00" * 16, False)
    add("webp-garbage.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\xff" * 20, False)
    add("tiff-garbage.tiff", b"II*\x00\x08\x00\x00\x00" + b"\xff" * 64, False)
    add("zero-size.png", png(0, 0, pixels=b""), False)
    add("bad-crc.png", png(8, 8, bad_crc=True), False)
    add("one-pixel.png", png(1, 1), True)
    add("gray16.png", png(20, 12, channels=1, depth=16), True)
    add("gray.png", png(28, 28), True)
    add("rgb.png", png(30, 20, channels=3), True)
    add("rgba.png", png(16, 16, channels=4), True)
    add("gray-alpha.png", png(16, 16, channels=2), True)
    add("png-named.jpg", good_png, True)
    add("name with spaces.png", good_png, True)
    add("ñämé-ünïcödé-画像.png", good_png, True)
    add("large-but-legal-3000x3000.png", png(3000, 3000), True)
    shutil.copy(os.path.join(seeds, "exif-rotate90.jpg"), os.path.join(root, "exif-rotate90.jpg"))
    cases.append(("exif-rotate90.jpg", os.path.join(root, "exif-rotate90.jpg"), True))
    # Found by fuzz_image: Debian's OpenCV hands it to GDCM, which aborts on an assert.
    add("dicom-abort.dcm", open(os.path.join(seeds, "dicom-abort.dcm"), "rb").read(), False)
    os.mkdir(os.path.join(root, "folder-named.png"))
    cases.append(("folder-named.png", os.path.join(root, "folder-named.png"), False))
    os.symlink("loop.png", os.path.join(root, "loop.png"))
    cases.append(("loop.png", os.path.join(root, "loop.png"), False))
    os.symlink("does-not-exist.png", os.path.join(root, "dangling.png"))
    cases.append(("dangling.png", os.path.join(root, "dangling.png"), False))
    cases.append(("missing.png", os.path.join(root, "missing.png"), False))
    return cases


# ----------------------------------------------------------------------------- model dirs
def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_safetensors(path, header, body, header_len=None):
    raw = json.dumps(header).encode() if isinstance(header, dict) else header
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + body)


def make_models(root, source):
    """Returns (name, directory) for each broken model; every one must be refused."""
    config = json.load(open(os.path.join(source, "config.json")))
    header, body = read_safetensors(os.path.join(source, "model.safetensors"))
    first = sorted(k for k in header if k != "__metadata__")[0]
    cases = []

    def model(name, config_edit=None, tensors=None, raw_config=None, preprocessor=None):
        d = os.path.join(root, name)
        os.mkdir(d)
        if raw_config is not None:
            open(os.path.join(d, "config.json"), "w").write(raw_config)
        elif config_edit is not False:
            c = json.loads(json.dumps(config))
            if config_edit:
                config_edit(c)
            json.dump(c, open(os.path.join(d, "config.json"), "w"))
        if tensors is None:
            shutil.copy(os.path.join(source, "model.safetensors"), d)
        elif tensors is not False:
            tensors(os.path.join(d, "model.safetensors"))
        if preprocessor is not None:
            json.dump(preprocessor, open(os.path.join(d, "preprocessor_config.json"), "w"))
        cases.append((name, d))

    def edited(edit):
        def write(path):
            h = json.loads(json.dumps(header))
            edit(h)
            write_safetensors(path, h, body)
        return write

    model("no-config", config_edit=False)
    model("config-not-json", raw_config="{ hidden_size: 24,")
    model("config-array", raw_config="[1, 2, 3]")
    model("hidden-size-string", lambda c: c.update(hidden_size="24"))
    model("heads-not-dividing", lambda c: c.update(num_attention_heads=5))
    model("negative-patch", lambda c: c.update(patch_size=-4))
    model("labels-vs-head", lambda c: c.update(id2label={"0": "a", "1": "b"}))
    model("image-not-divisible", lambda c: c.update(image_size=13))
    model("layers-too-many", lambda c: c.update(num_hidden_layers=7))
    model("unknown-activation", lambda c: c.update(hidden_act="swish"))
    model("id2label-bad-key", lambda c: c.update(id2label={"zero": "a"}))
    model("no-weights", tensors=False)
    model("weights-empty", tensors=lambda p: open(p, "wb").close())
    model("weights-7-bytes", tensors=lambda p: open(p, "wb").write(b"\x01" * 7))
    model("header-len-huge", tensors=lambda p: write_safetensors(p, b"{}", b"", header_len=(1 << 62)))
    model("header-len-past-end", tensors=lambda p: write_safetensors(p, b"{}", b"", header_len=4096))
    model("header-not-json", tensors=lambda p: write_safetensors(p, b"{\"a\": [1, 2", body))
    model("unknown-dtype", tensors=edited(lambda h: h[first].update(dtype="F8_E4M3")))
    model("offsets-past-end", tensors=edited(lambda h: h[first].update(data_offsets=[0, len(body) + 4])))
    model("offsets-reversed", tensors=edited(lambda h: h[first].update(data_offsets=[8, 4])))
    model("shape-length-mismatch", tensors=edited(lambda h: h[first].update(shape=h[first]["shape"] + [3])))
    model("shape-overflow", tensors=edited(lambda h: h[first].update(shape=[2**62, 2**62, 16])))
    model("shape-negative", tensors=edited(lambda h: h[first].update(shape=[-1])))

    def overlap(h):
        names = [k for k in h if k != "__metadata__"]
        a, b = names[0], names[1]
        size = h[b]["data_offsets"][1] - h[b]["data_offsets"][0]
        start = h[a]["data_offsets"][0]
        h[b]["data_offsets"] = [start, start + size]
    model("tensors-overlap", tensors=edited(overlap))
    model("tensor-renamed", tensors=edited(lambda h: h.update({"renamed": h.pop(first)})))

    def poisoned(value):  # the first tensor's first element set to NaN or infinity
        def write(path):
            dtype, start = header[first]["dtype"], header[first]["data_offsets"][0]
            raw = struct.pack("<f", value) if dtype == "F32" else \
                struct.pack("<f", value)[2:] if dtype == "BF16" else struct.pack("<e", value)
            write_safetensors(path, header, body[:start] + raw + body[start + len(raw):])
        return write
    model("weight-nan", tensors=poisoned(float("nan")))
    model("weight-infinity", tensors=poisoned(float("inf")))
    model("preprocessor-size-zero", preprocessor={"size": {"height": 0, "width": 0}})
    model("preprocessor-size-huge", preprocessor={"size": {"height": 8000, "width": 8000}})
    model("preprocessor-std-zero", preprocessor={"image_std": [0.0]})
    return cases


# ----------------------------------------------------------------------------- running
def run_measured(argv):
    # Popen.poll() reaps the child, losing its rusage; wait with wait4 instead.
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, proc.stderr.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024, True
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, proc.stderr.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024, False


def check(name, argv, expect_status, must_name, results, one_line=True):
    status, stderr, rss_mb, timed_out = run_measured(argv)
    lines = [l for l in stderr.splitlines() if l.strip()]
    problems = []
    if timed_out:
        problems.append("hung (killed after %d s)" % TIMEOUT_S)
    elif status is not None and status < 0:
        problems.append("crashed with signal %d" % -status)
    elif status != expect_status:
        problems.append("exit status %s, expected %d" % (status, expect_status))
    if expect_status != 0 and not timed_out and one_line:
        if len(lines) != 1:
            problems.append("%d lines on stderr, expected one" % len(lines))
        elif must_name not in lines[0]:
            problems.append("message does not name %r" % must_name)
    if rss_mb > MAX_RSS_MB:
        problems.append("peak memory %.0f MB > %d MB" % (rss_mb, MAX_RSS_MB))
    verdict = "ok  " if not problems else "FAIL"
    print("%s %-34s status=%s rss=%.0fMB %s" % (verdict, name, status, rss_mb,
                                              "; ".join(problems) if problems else (lines[0][:110] if lines else "")))
    results.append(not problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vitc", required=True)
    parser.add_argument("--model", required=True, help="a valid model directory to corrupt and to classify with")
    parser.add_argument("--seeds", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vitc-hostile-")
    try:
        os.mkdir(os.path.join(work, "images"))
        os.mkdir(os.path.join(work, "models"))
        results = []
        for name, path, ok in make_images(os.path.join(work, "images"), args.seeds):
            check("image/" + name, [args.vitc, "classify", path, "--model", args.model, "--threads", "1"],
                  0 if ok else 1, os.path.basename(path), results)
        for name, directory in make_models(os.path.join(work, "models"), args.model):
            check("model/" + name, [args.vitc, "info", "--model", directory], 2, directory, results)
        # A batch over the whole hostile image folder: every file gets a row, bad ones fail.
        out = os.path.join(work, "batch.csv")
        check("batch/hostile-folder", [args.vitc, "batch", os.path.join(work, "images"), "--model", args.model,
                                       "--out", out, "--threads", "1"], 1, "", results, one_line=False)
        rows = open(out, encoding="utf-8", errors="replace").read().count("\n") - 1 if os.path.exists(out) else -1
        images = os.path.join(work, "images")
        listed = sum(1 for n in os.listdir(images) if not os.path.isdir(os.path.join(images, n)) and
                     os.path.splitext(n)[1].lower() in (".png", ".jpg", ".gif", ".bmp", ".pgm", ".webp", ".tiff"))
        ok = rows == listed
        print("%s batch/one-row-per-file               rows=%d files=%d" % ("ok  " if ok else "FAIL", rows, listed))
        results.append(ok)
        passed = sum(results)
        print("%d passed, %d failed" % (passed, len(results) - passed))
        return 0 if passed == len(results) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
