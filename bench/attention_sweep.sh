#!/bin/bash
# Tokens per image against the two attention kernels: a ViT-Ti-shaped model (12 blocks, hidden
# 192, 3 heads) with patch 1, a token per pixel, random weights, batch 1, f32, 2 threads:
#   vitc bench --attention full,tiled at 784, 3136, 12544 and 50176 tokens (28x28 .. 224x224),
#   PyTorch 1.13 (torchvision's VisionTransformer, scores materialised) where they fit in memory.
# Writes JSON lines to bench/attention_sweep.jsonl, the plot bench/attention_sweep.svg, and the
# section of bench/RESULTS.md (bench/attention_sweep.md).
#   bench/attention_sweep.sh [build/app/vitc]
set -euo pipefail
cd "$(dirname "$0")/.."
VITC=${1:-build/app/vitc}
OUT=bench/attention_sweep.jsonl
THREADS=2
: > "$OUT"
START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# $START, $(nproc) cores, load average $LOAD_BEFORE" >&2

vitc_run() {  # tokens iterations warmup
  "$VITC" bench --arch vit-ti16 --patch-size 1 --tokens "$1" --attention full,tiled --threads $THREADS \
    --iterations "$2" --warmup "$3" --no-peak --format json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); [print(json.dumps(dict(r, runtime="vitc", tokens=d["tokens"], image_size=d["image_size"], flops_per_image=d["flops_per_image"], weights_resident_mb=d["weights_resident_mb"]))) for r in d["results"]]' >> "$OUT"
}
torch_run() {  # image_size iterations warmup
  /usr/bin/python3 bench/torch_pixel_vit.py --image-size "$1" --threads $THREADS --iterations "$2" --warmup "$3" >> "$OUT"
}

vitc_run 784 10 2;  torch_run 28 10 2
vitc_run 3136 5 1;  torch_run 56 5 1
vitc_run 12544 2 1; torch_run 112 2 1
vitc_run 50176 1 0  # PyTorch would need 3 x 50177^2 floats = 30 GB for one layer's scores: not run
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# done $(date -u '+%H:%M UTC'), load average $LOAD_AFTER" >&2

# The section of bench/RESULTS.md (kept as bench/attention_sweep.md, which bench/compare.sh
# appends when it rewrites RESULTS.md) and the plot.
python3 bench/plot_attention_sweep.py "$OUT" bench/attention_sweep.svg
python3 - "$OUT" "$START" "$LOAD_BEFORE" "$LOAD_AFTER" > bench/attention_sweep.md <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
flops = {r["tokens"]: r["flops_per_image"] for r in rows if "flops_per_image" in r}
print("## Attention kernels: tokens per image (vitc full and tiled, PyTorch)\n")
print("Made by `bench/attention_sweep.sh` on %s (load average before / after: %s / %s on 2 cores)." % tuple(sys.argv[2:5]))
print("ViT-Ti shape (12 blocks, hidden 192, 3 heads of 64, MLP 768) with patch 1, a token per pixel (plus the")
print("class token), random weights, f32, batch 1, 2 threads; vitc rows from")
print("`vitc bench --arch vit-ti16 --patch-size 1 --tokens T --attention full,tiled --threads 2`, PyTorch")
print("1.13 from `bench/torch_pixel_vit.py` (torchvision's VisionTransformer, one process per size).")
print("GFLOP/s counts the model's FLOPs (attention 4 T^2 D per block); peak RSS is the process's")
print("high-water mark while that row ran (vitc: reset after building the model). PyTorch is not run at")
print("50,176 tokens: one layer's scores alone would take 3 x 50177^2 floats = 30 GB.")
if float(sys.argv[3].split()[0]) > 2 or float(sys.argv[4].split()[0]) > 2:
    print("**This run shared the 2 cores with other jobs (load average above 2):** absolute times are")
    print("several times a quiet machine's; compare rows of one size, which ran minutes apart.")
print("")
print("| tokens | image | kernel | median ms | GFLOP/s | buffers MiB | peak RSS MiB |")
print("|---:|---:|---|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["tokens"], r["runtime"] != "vitc", r.get("attention", ""))):
    side = int(round((r["tokens"] - 1) ** 0.5))
    name = "vitc " + r["attention"] if r["runtime"] == "vitc" else r["runtime"]
    if "skipped" in r:
        print("| %d | %dx%d | %s | skipped: %s | | | |" % (r["tokens"], side, side, name, r["skipped"]))
        continue
    gflops = flops[r["tokens"]] / r["latency_ms_median"] / 1e6
    print("| %d | %dx%d | %s | %.0f | %.1f | %s | %.0f |" % (r["tokens"], side, side, name, r["latency_ms_median"], gflops,
          "%.1f" % r["buffers_mb"] if "buffers_mb" in r else "", r["peak_resident_mb"]))
print("\n![latency and peak memory against tokens](attention_sweep.svg)")
PY
# RESULTS.md: replace this section (from its heading to the end), or append it.
python3 - <<'PY'
text = open("bench/RESULTS.md").read()
head = text.split("## Attention kernels: tokens per image")[0].rstrip("\n")
open("bench/RESULTS.md", "w").write(head + "\n\n" + open("bench/attention_sweep.md").read())
PY
# (That drops the training section after it; put it back.)
python3 bench/train_results_section.py
cat bench/attention_sweep.md
