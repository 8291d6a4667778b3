#!/usr/bin/env bash
# Training speed, vitc against PyTorch 1.13 on the same cores: images/s of forward + backward +
# AdamW update at batch 128 for the bundled Fashion-MNIST ViT's shape (28x28x1, patch 4, hidden
# 64, 6 blocks, 4 heads, MLP 128, 10 classes) and CNN's (ResNet, basic blocks [1, 1, 1, 1], widths
# [16, 32, 64, 128], 3x3 stem, BatchNorm in training mode), f32, with 1 and 2 threads.
#   vitc:    `vitc train` on Fashion-MNIST (Debian's dataset-fashion-mnist), 2 epochs of 11 steps,
#            the second epoch's images/s from train_log.jsonl (data loading and validation excluded).
#   PyTorch: bench/torch_train_bench.py (torchvision's VisionTransformer or ResNet blocks, random
#            data, 2 warm-up steps then 10 timed), with libopenblas0-pthread installed.
# Writes bench/TRAIN_RESULTS.md.   Usage: bench/train_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in python3-torch python3-torchvision libopenblas0-pthread dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
VITC=${VITC:-build/app/vitc}
DATA=/usr/share/datasets/fashion-mnist
OUT=bench/TRAIN_RESULTS.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rows=()
for arch in vit resnet; do
for threads in 1 2; do
  "$VITC" train "$DATA" --out "$work/$arch$threads" --arch "$arch" --limit 1408 --val-split 0 --epochs 2 \
    --batch-size 128 --threads "$threads" >/dev/null
  vitc=$(tail -1 "$work/$arch$threads/train_log.jsonl" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["images_per_second"]))')
  torch=$(/usr/bin/python3 bench/torch_train_bench.py --model "$arch" --threads "$threads" --steps 10 |
          python3 -c 'import json,sys; print(round(json.load(sys.stdin)["images_per_second"]))')
  ratio=$(python3 -c "print(f'{$vitc / $torch:.2f}')")
  rows+=("| $arch | $threads | $vitc | $torch | ${ratio}x |")
  echo "$arch, threads $threads: vitc $vitc img/s, PyTorch $torch img/s" >&2
done
done
{
  echo "# Training speed: vitc vs PyTorch (f32, batch 128)"
  echo
  echo "bench/train_compare.sh on $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "$(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). The bundled ViT's shape"
  echo "(28x28x1, patch 4, hidden 64, 6 blocks, 4 heads, MLP 128) and CNN's (ResNet, basic blocks [1, 1, 1, 1],"
  echo "widths [16, 32, 64, 128], 3x3 stem); forward + backward + AdamW step."
  echo
  echo "| model | threads | vitc images/s | PyTorch 1.13 images/s | vitc / PyTorch |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > "$OUT"
cat "$OUT"
