#!/usr/bin/env bash
# Training speed, vitc against PyTorch 1.13 on the same cores: images/s of forward + backward +
# AdamW update at batch 128 for the bundled Fashion-MNIST models' shapes, read from
# models/fashion-vit/config.json and models/fashion-cnn/config.json (BatchNorm in training mode),
# f32 and bf16, with 1 and 2 threads, each the median of 3 repetitions.
#   vitc:    `vitc train` on Fashion-MNIST (Debian's dataset-fashion-mnist), 2 epochs of 22 steps,
#            the second epoch's images/s from train_log.jsonl (data loading and validation excluded).
#   PyTorch: bench/torch_train_bench.py --config (torchvision's VisionTransformer, or for vitc's ViT
#            extensions the training fixtures' PyTorch reference, or ResNet blocks,
#            random data, 2 warm-up steps then 10 timed; bf16 under torch.autocast), with
#            libopenblas0-pthread installed.
# Then ViT-Ti/16 at 224x224x3 (hidden 192, 12 blocks, 3 heads, MLP 768), batch 32: vitc f32 and
# --precision bf16 against PyTorch f32 and bf16 autocast, each with 1 and 2 threads, the best
# kept; the median of 5 steps after a warm-up step (vitc: 6 one-step epochs on 32 random images,
# epochs 2-6 from train_log.jsonl; PyTorch: --warmup 1 --steps 5, median_images_per_second).
# (With windows of 11 and 3 steps, one figure moved by up to 40% between idle runs on one day.)
# Writes bench/TRAIN_RESULTS.md (OUT=...: elsewhere).   Usage: bench/train_compare.sh
# (VIT_CONFIG=..., CNN_CONFIG=...: other shapes than the bundled ones; REPS=...: other repetitions.)
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
OUT=${OUT:-bench/TRAIN_RESULTS.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Bundled shapes: f32 and bf16, 1 and 2 threads; each figure the median of 3 repetitions.
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(v) for v in sys.argv[1:])))" "$@"; }
larger() { python3 -c "import sys; print('%g' % max(float(v) for v in sys.argv[1:]))" "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
describe() {  # a model directory's config.json in words
  python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
size = c["image_size"] if isinstance(c["image_size"], list) else [c["image_size"]] * 2
shape = f"{size[0]}x{size[1]}x{c.get('num_channels', 3)}"
if c.get("model_type") == "resnet":
    print(f"{sys.argv[1]}: ResNet, {c['block']} blocks {c['layers']}, widths {c['widths']}, {c['stem']} stem, {shape}")
else:
    extensions = [text for on, text in (
        (not c.get("class_token", True), "no class token"), (c.get("pooling") == "mean", "mean pooling"),
        (c.get("position_embedding_type") == "sincos2d", "sine-cosine positions"),
        (c.get("shifted_patch_tokens"), "shifted patch tokens"),
        (c.get("locality_self_attention"), "locality self-attention")) if on]
    print(f"{sys.argv[1]}: ViT, {shape}, patch {c['patch_size']}, hidden {c['hidden_size']}, "
          f"{c['num_hidden_layers']} blocks, {c['num_attention_heads']} heads, MLP {c['intermediate_size']}"
          + "".join(", " + e for e in extensions))
PY
}
declare -A small
declare -A config=([vit]=${VIT_CONFIG:-models/fashion-vit/config.json} [resnet]=${CNN_CONFIG:-models/fashion-cnn/config.json})
for arch in vit resnet; do
for threads in 1 2; do
for precision in f32 bf16; do
  v=(); t=()
  for rep in $(seq "${REPS:-3}"); do
    rm -rf "$work/$arch"
    "$VITC" train "$DATA" --out "$work/$arch" --arch "${config[$arch]}" --limit 2816 --val-split 0 --epochs 2 \
      --batch-size 128 --precision "$precision" --threads "$threads" >/dev/null
    v+=("$(tail -1 "$work/$arch/train_log.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_second"])')")
    t+=("$(/usr/bin/python3 bench/torch_train_bench.py --config "${config[$arch]}" --threads "$threads" --steps 20 --dtype "$precision" |
           python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_second"])')")
  done
  small[vitc-$arch-$precision-$threads]=$(median "${v[@]}")
  small[torch-$arch-$precision-$threads]=$(median "${t[@]}")
  echo "$arch, $precision, threads $threads: vitc ${small[vitc-$arch-$precision-$threads]} img/s (${v[*]}), PyTorch ${small[torch-$arch-$precision-$threads]} img/s (${t[*]})" >&2
done
done
done
rows=(); headline=()
for arch in vit resnet; do
  for threads in 1 2; do
    k="$arch-f32-$threads"; b="$arch-bf16-$threads"
    rows+=("| $arch | $threads | ${small[vitc-$k]} | ${small[vitc-$b]} | ${small[torch-$k]} | ${small[torch-$b]} | $(ratio "${small[vitc-$k]}" "${small[torch-$k]}") | $(ratio "${small[vitc-$b]}" "${small[torch-$b]}") |")
  done
  for precision in f32 bf16; do
    vb=$(larger "${small[vitc-$arch-$precision-1]}" "${small[vitc-$arch-$precision-2]}")
    tb=$(larger "${small[torch-$arch-$precision-1]}" "${small[torch-$arch-$precision-2]}")
    headline+=("| $arch | $precision | $vb | $tb | $(ratio "$vb" "$tb") |")
  done
done
# ViT-Ti/16 at 224, batch 32: per (framework, precision), images/s of the median step, 1 and 2 threads.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$work/tiny224"
/usr/bin/python3 - "$work/tiny224" <<'PY'
import json, os, sys, torch
from torchvision.io import write_png
root = sys.argv[1]
g = torch.Generator().manual_seed(0)
for c in ("a", "b"):
    os.makedirs(os.path.join(root, "data", c), exist_ok=True)
    for i in range(16):
        write_png(torch.randint(0, 256, (3, 224, 224), generator=g, dtype=torch.uint8), os.path.join(root, "data", c, f"{i}.png"))
json.dump({"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3, "intermediate_size": 768,
           "image_size": 224, "patch_size": 16, "num_channels": 3, "layer_norm_eps": 1e-6},
          open(os.path.join(root, "vit_ti.json"), "w"))
PY
declare -A tiny
for threads in 1 2; do
  for precision in f32 bf16; do
    "$VITC" train "$work/tiny224/data" --out "$work/ti-$precision$threads" --arch "$work/tiny224/vit_ti.json"       --val-split 0 --epochs 6 --batch-size 32 --precision "$precision" --threads "$threads" >/dev/null
    tiny[vitc-$precision-$threads]=$(python3 -c 'import json,statistics,sys; print(round(statistics.median(json.loads(l)["images_per_second"] for l in list(open(sys.argv[1]))[1:]), 2))' "$work/ti-$precision$threads/train_log.jsonl")
    tiny[torch-$precision-$threads]=$(/usr/bin/python3 bench/torch_train_bench.py --image 224 --channels 3 --patch 16       --hidden 192 --layers 12 --heads 3 --mlp 768 --classes 2 --batch 32 --threads "$threads" --warmup 1 --steps 5       --dtype "$precision" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["median_images_per_second"], 2))')
    echo "ViT-Ti/16, $precision, threads $threads: vitc ${tiny[vitc-$precision-$threads]} img/s, PyTorch ${tiny[torch-$precision-$threads]} img/s" >&2
  done
done
best() { larger "${tiny[$1-1]}" "${tiny[$1-2]}"; }
vitc_f32=$(best vitc-f32); vitc_bf16=$(best vitc-bf16); torch_f32=$(best torch-f32); torch_bf16=$(best torch-bf16)
{
  echo "# Training speed: vitc vs PyTorch 1.13, batch 128"
  echo
  echo "bench/train_compare.sh on $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "$(nproc) cores; load average before: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg). The bundled"
  echo "models' shapes, from their config.json: $(describe "${config[vit]}"); $(describe "${config[resnet]}")"
  echo "(BatchNorm in training mode); forward + backward +"
  echo "AdamW step. Images/s, each the median of ${REPS:-3} repetitions (vitc: the second of two 22-step epochs of"
  echo "\`vitc train\` on Fashion-MNIST; PyTorch: the mean of 20 steps after 2 warm-up steps on random data)."
  echo "bf16: vitc --precision bf16 (bf16 operands in every matmul and convolution, f32 accumulation,"
  echo "weights and gradients); PyTorch torch.autocast(\"cpu\", bfloat16)."
  echo
  echo "| model | threads | vitc f32 | vitc bf16 | PyTorch f32 | PyTorch bf16 | vitc / PyTorch f32 | vitc / PyTorch bf16 |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Each framework at its better thread count:"
  echo
  echo "| model | precision | vitc | PyTorch 1.13 | vitc / PyTorch |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${headline[@]}"
  echo
  echo "## ViT-Ti/16 at 224x224, batch 32: bf16 against f32"
  echo
  echo "Images/s of the median of 5 steps after a warm-up step, the better of 1 and 2 threads (each in brackets)."
  echo "vitc --precision bf16: matmuls with bf16 operands, f32 accumulation, weights and gradients. PyTorch bf16:"
  echo "torch.autocast(\"cpu\", bfloat16). Load average before this part: $load_before."
  echo
  echo "| | f32 | bf16 | bf16 / f32 |"
  echo "|---|---|---|---|"
  echo "| vitc | $vitc_f32 (${tiny[vitc-f32-1]}, ${tiny[vitc-f32-2]}) | $vitc_bf16 (${tiny[vitc-bf16-1]}, ${tiny[vitc-bf16-2]}) | $(ratio "$vitc_bf16" "$vitc_f32") |"
  echo "| PyTorch 1.13 | $torch_f32 (${tiny[torch-f32-1]}, ${tiny[torch-f32-2]}) | $torch_bf16 (${tiny[torch-bf16-1]}, ${tiny[torch-bf16-2]}) | $(ratio "$torch_bf16" "$torch_f32") |"
  echo "| vitc / PyTorch | $(ratio "$vitc_f32" "$torch_f32") | $(ratio "$vitc_bf16" "$torch_bf16") | |"
} > "$OUT"
cat "$OUT"
# bench/RESULTS.md carries the same tables as its training section, between markers that
# bench/compare.sh keeps when it rewrites the inference part.
if [ "$OUT" = bench/TRAIN_RESULTS.md ]; then python3 bench/train_results_section.py; fi
