#!/usr/bin/env bash
# Side-by-side speed of vitc, PyTorch and ONNX Runtime on this machine, in one go:
# ViT-B/16 224x224, random weights, 2 threads each, batch 1 and 32; vitc and PyTorch in f32, bf16
# and int8 (PyTorch: see bench/torch_bench.py for how), ONNX Runtime in f32 (its quantisation
# tools are Python-only, not in Debian); then the token-count sweep of vitc.
# Writes bench/RESULTS.md (and the raw JSON lines to bench/results.jsonl).
#   bench/compare.sh [--quick]      (--quick: fewer iterations, for a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
ITER=10; SWEEP_ITER=3
[ "${1:-}" = "--quick" ] && { ITER=2; SWEEP_ITER=1; }
THREADS=2
OUT=bench/results.jsonl
ONNX=${TMPDIR:-/tmp}/vitc_vit_b_16.onnx

scripts/bootstrap.sh >/dev/null
# Reference implementations (benchmark only; the product needs neither).
need=()
for p in python3-torch python3-torchvision libopenblas0-pthread; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -d bench/node_modules/onnxruntime-node ] || (cd bench && npm install --ignore-scripts --no-audit --no-fund >/dev/null)

: > "$OUT"
echo "vitc ..." >&2
for precision in f32 bf16 int8; do
  build/app/vitc bench --arch vit-b16 --batch-size 1,32 --precision "$precision" --threads $THREADS \
    --iterations $ITER --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); [print(json.dumps(dict(r, runtime="vitc", precision=d["precision"], matmul_peak_gflops=d["matmul_peak_gflops"], weights_resident_mb=d["weights_resident_mb"], resident_before_loading_mb=d["resident_before_loading_mb"], flops_per_image=d["flops_per_image"]))) for r in d["results"]]' >> "$OUT"
done
echo "PyTorch ..." >&2
/usr/bin/python3 bench/torch_bench.py --arch vit_b_16 --batches 1,32 --threads $THREADS --iterations $ITER \
  --export "$ONNX" >> "$OUT"
echo "ONNX Runtime ..." >&2
node bench/ort_bench.js "$ONNX" --batches 1,32 --threads $THREADS --iterations $ITER >> "$OUT"
rm -f "$ONNX"
echo "token sweep ..." >&2
for spec in "224 32" "224 16" "224 8" "224 4" "384 16" "448 16"; do
  set -- $spec
  build/app/vitc bench --arch vit-b16 --image-size "$1" --patch-size "$2" --batch-size 1 --threads $THREADS \
    --iterations $SWEEP_ITER --warmup 1 --no-peak --format json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["results"][0]; print(json.dumps(dict(r, runtime="vitc-sweep", image_size='"$1"', patch_size='"$2"', flops_per_image=d["flops_per_image"], architecture=d["architecture"])))' >> "$OUT"
done
python3 bench/format_results.py "$OUT" > bench/RESULTS.md
# The attention-kernel token sweep is its own run (bench/attention_sweep.sh, long): keep its section.
if [ -f bench/attention_sweep.md ]; then printf '\n' >> bench/RESULTS.md; cat bench/attention_sweep.md >> bench/RESULTS.md; fi
# The training benchmark is its own run too (bench/train_compare.sh): keep its section.
python3 bench/train_results_section.py
cat bench/RESULTS.md
