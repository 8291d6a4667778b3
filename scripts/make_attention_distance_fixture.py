#!/usr/bin/env python3
"""Reference mean attention distances (Dosovitskiy et al. 2021, Figure 7) for ViT fixtures, for
tests/test_attention_distance.cpp. Debian python3 with torch 1.13:

    /usr/bin/python3 scripts/make_attention_distance_fixture.py   # writes tests/data/attention_distance/expected.json

For each case, the fixture's weights (Hugging Face names) and its stored inputs (io.safetensors
"input", already normalised) go through a float64 ViT forward written here from the formulas
(pre-LN blocks, exact GELU, class token first), which keeps every layer's attention
probabilities A [N, heads, T, T]. Then, per layer and head:

    distance = mean over images and query patches i of sum_j A[i, j] * d(i, j)
    d(i, j)  = patch_size * Euclidean distance of the patches' (row, column) grid positions
    share    = mean over images and query patches i of A[i, class token]

with the class token dropped as a query and as a key and the rows NOT renormalised (the
convention lib/explain/attention_distance.hpp states). The logits are stored too, to show the
forward here matches the fixture's own reference (checked below against io.safetensors).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = ["p4_rgb_mean_hf", "p4_gray_cls_hf_bf16"]  # mean pooling with a class token; cls pooling
OUT = os.path.join(ROOT, "tests", "data", "attention_distance", "expected.json")


def forward_with_attention(w, cfg, x):
    """Float64 HF-named ViT forward; returns logits [N, K] and a list of A [N, H, T, T]."""
    w = {k: v.double() for k, v in w.items()}
    D, heads, P = cfg["hidden_size"], cfg["num_attention_heads"], cfg["patch_size"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    dh = D // heads
    n, C, H, W = x.shape
    gh, gw = H // P, W // P
    e = "vit.embeddings."
    patches = x.reshape(n, C, gh, P, gw, P).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, C * P * P)
    t = patches @ w[e + "patch_embeddings.projection.weight"].reshape(D, -1).T + w[e + "patch_embeddings.projection.bias"]
    t = torch.cat([w[e + "cls_token"].reshape(1, 1, D).expand(n, 1, D), t], 1) + w[e + "position_embeddings"]

    def ln(v, name):
        mu = v.mean(-1, keepdim=True)
        var = ((v - mu) ** 2).mean(-1, keepdim=True)
        return (v - mu) / torch.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def linear(v, name):
        return v @ w[name + ".weight"].T + w[name + ".bias"]

    T = t.shape[1]
    attentions = []
    for i in range(cfg["num_hidden_layers"]):
        s = f"vit.encoder.layer.{i}."
        y = ln(t, s + "layernorm_before")
        q, k, v = (linear(y, s + "attention.attention." + m).reshape(n, T, heads, dh).transpose(1, 2)
                   for m in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1)
        attentions.append(a)
        t = t + linear((a @ v).transpose(1, 2).reshape(n, T, D), s + "attention.output.dense")
        y = linear(ln(t, s + "layernorm_after"), s + "intermediate.dense")
        t = t + linear(0.5 * y * (1.0 + torch.erf(y / math.sqrt(2.0))), s + "output.dense")
    t = ln(t, "vit.layernorm")
    pooled = t[:, 0] if cfg.get("pooling", "cls") == "cls" else t[:, 1:].mean(1)
    return linear(pooled, "classifier"), attentions, (gh, gw, P)


def distances(attentions, grid):
    gh, gw, P = grid
    rows = torch.arange(gh * gw) // gw
    cols = torch.arange(gh * gw) % gw
    d = P * torch.sqrt(((rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2).double())
    out_distance, out_share = [], []
    for a in attentions:  # [N, H, T, T], token 0 the class token
        patch = a[:, :, 1:, 1:]                                   # queries and keys: patches only
        out_distance.append((patch * d).sum(-1).mean((0, 2)).tolist())  # [H]
        out_share.append(a[:, :, 1:, 0].mean((0, 2)).tolist())
    return out_distance, out_share


def main():
    torch.set_num_threads(1)
    cases = {}
    for name in CASES:
        folder = os.path.join(ROOT, "tests", "data", "vit", name)
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        io = load_file(os.path.join(folder, "io.safetensors"))
        logits, attentions, grid = forward_with_attention(load_file(os.path.join(folder, "model.safetensors")), cfg,
                                                          io["input"].double())
        error = (logits - io["logits"].double()).abs().max().item()
        print(f"{name}: logits within {error:.2e} of the fixture's reference")
        if error > 1e-4:
            sys.exit(f"{name}: this forward does not reproduce the fixture's logits ({error})")
        distance, share = distances(attentions, grid)
        cases[name] = {"images": int(io["input"].shape[0]), "grid": list(grid[:2]), "patch_size": grid[2],
                       "distance": distance, "class_token_share": share}
        for layer, row in enumerate(distance):
            print(f"  layer {layer}: " + " ".join(f"{v:7.4f}" for v in row))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/make_attention_distance_fixture.py",
                   "convention": "class token excluded as query and key; rows not renormalised; pixels between "
                                 "patch centres; mean over the images of io.safetensors",
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
