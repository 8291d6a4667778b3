#!/usr/bin/env python3
"""Train a small ViT on Fashion-MNIST from scratch (CPU) and export it in the Hugging Face
ViTForImageClassification layout (config.json, preprocessor_config.json, model.safetensors).

Preprocessing (reproduced by the C++ side from the PNG): x = (uint8 / 255 - MEAN) / STD.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fashion_mnist import LABELS, load_split  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

MEAN = 0.2860
STD = 0.3530
IMAGE_SIZE = 28
PATCH_SIZE = 4


def build_model(hidden, layers, heads, mlp, dropout=0.0, attn_dropout=0.0):
    m = VisionTransformer(image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, num_layers=layers,
                          num_heads=heads, hidden_dim=hidden, mlp_dim=mlp, dropout=dropout,
                          attention_dropout=attn_dropout, num_classes=10)
    m.conv_proj = nn.Conv2d(1, hidden, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)
    # torchvision initialises the head with zeros; a small random init trains equally well and
    # keeps every exported tensor non-trivial.
    nn.init.trunc_normal_(m.heads.head.weight, std=0.02)
    nn.init.zeros_(m.heads.head.bias)
    return m


def normalize(u8):
    """uint8 tensor [N,28,28] -> float [N,1,28,28]."""
    return ((u8.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def augment(u8, gen, pad, flip):
    """Random crop with zero padding (on the uint8 image, i.e. pad value 0) and horizontal flip."""
    n = u8.shape[0]
    if pad > 0:
        padded = F.pad(u8, (pad, pad, pad, pad))
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        idx = torch.arange(IMAGE_SIZE)
        rows = (dy[:, None] + idx[None, :])  # [n,28]
        cols = (dx[:, None] + idx[None, :])
        u8 = padded[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        m = torch.rand(n, generator=gen) < 0.5
        u8 = torch.where(m[:, None, None], u8.flip(-1), u8)
    return u8


@torch.no_grad()
def evaluate(model, x_u8, y, bs=1000):
    model.eval()
    correct = 0
    for i in range(0, len(y), bs):
        logits = model(normalize(x_u8[i:i + bs]))
        correct += (logits.argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(y)


# ---------------------------------------------------------------- HF export / import
def to_hf(sd, layers):
    out = {
        "vit.embeddings.cls_token": sd["class_token"],
        "vit.embeddings.position_embeddings": sd["encoder.pos_embedding"],
        "vit.embeddings.patch_embeddings.projection.weight": sd["conv_proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": sd["conv_proj.bias"],
    }
    for i in range(layers):
        tv = f"encoder.layers.encoder_layer_{i}."
        hf = f"vit.encoder.layer.{i}."
        for p in ("weight", "bias"):
            out[hf + "layernorm_before." + p] = sd[tv + "ln_1." + p]
            q, k, v = sd[tv + "self_attention.in_proj_" + p].chunk(3, dim=0)
            out[hf + "attention.attention.query." + p] = q
            out[hf + "attention.attention.key." + p] = k
            out[hf + "attention.attention.value." + p] = v
            out[hf + "attention.output.dense." + p] = sd[tv + "self_attention.out_proj." + p]
            out[hf + "layernorm_after." + p] = sd[tv + "ln_2." + p]
            out[hf + "intermediate.dense." + p] = sd[tv + "mlp.0." + p]
            out[hf + "output.dense." + p] = sd[tv + "mlp.3." + p]
    for p in ("weight", "bias"):
        out["vit.layernorm." + p] = sd["encoder.ln." + p]
        out["classifier." + p] = sd["heads.head." + p]
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


def from_hf(hf, layers):
    sd = {
        "class_token": hf["vit.embeddings.cls_token"],
        "encoder.pos_embedding": hf["vit.embeddings.position_embeddings"],
        "conv_proj.weight": hf["vit.embeddings.patch_embeddings.projection.weight"],
        "conv_proj.bias": hf["vit.embeddings.patch_embeddings.projection.bias"],
    }
    for i in range(layers):
        tv = f"encoder.layers.encoder_layer_{i}."
        h = f"vit.encoder.layer.{i}."
        for p in ("weight", "bias"):
            sd[tv + "ln_1." + p] = hf[h + "layernorm_before." + p]
            sd[tv + "self_attention.in_proj_" + p] = torch.cat(
                [hf[h + "attention.attention." + n + "." + p] for n in ("query", "key", "value")], 0)
            sd[tv + "self_attention.out_proj." + p] = hf[h + "attention.output.dense." + p]
            sd[tv + "ln_2." + p] = hf[h + "layernorm_after." + p]
            sd[tv + "mlp.0." + p] = hf[h + "intermediate.dense." + p]
            sd[tv + "mlp.3." + p] = hf[h + "output.dense." + p]
    for p in ("weight", "bias"):
        sd["encoder.ln." + p] = hf["vit.layernorm." + p]
        sd["heads.head." + p] = hf["classifier." + p]
    return sd


def hf_reference_forward(hf, cfg, x):
    """Plain-tensor forward pass of HF ViTForImageClassification from the HF-named weights
    (separate query/key/value, layernorm_before/after, exact-erf GELU, CLS token 0), written
    independently of torchvision: checks that the names mean what HF/C++ expect."""
    d, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    dh = d // nh
    e = F.conv2d(x, hf["vit.embeddings.patch_embeddings.projection.weight"],
                 hf["vit.embeddings.patch_embeddings.projection.bias"], stride=cfg["patch_size"])
    e = e.flatten(2).transpose(1, 2)  # [B, 49, D], patches in row-major order
    cls = hf["vit.embeddings.cls_token"].expand(x.shape[0], -1, -1)
    h = torch.cat([cls, e], 1) + hf["vit.embeddings.position_embeddings"]
    B, N, _ = h.shape

    def lin(t, name):
        return t @ hf[name + ".weight"].T + hf[name + ".bias"]

    def ln(t, name):
        return F.layer_norm(t, (d,), hf[name + ".weight"], hf[name + ".bias"], eps)

    for i in range(cfg["num_hidden_layers"]):
        p = f"vit.encoder.layer.{i}."
        a = ln(h, p + "layernorm_before")
        q, k, v = (lin(a, p + "attention.attention." + n).view(B, N, nh, dh).transpose(1, 2)
                   for n in ("query", "key", "value"))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1)
        ctx = (att @ v).transpose(1, 2).reshape(B, N, d)
        h = h + lin(ctx, p + "attention.output.dense")
        m = F.gelu(lin(ln(h, p + "layernorm_after"), p + "intermediate.dense"))
        h = h + lin(m, p + "output.dense")
    h = ln(h, "vit.layernorm")
    return lin(h[:, 0], "classifier")


def write_model_dir(out, model, args):
    os.makedirs(out, exist_ok=True)
    config = {
        "model_type": "vit",
        "architectures": ["ViTForImageClassification"],
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "intermediate_size": args.mlp,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-06,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "num_channels": 1,
        "qkv_bias": True,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "label2id": {l: i for i, l in enumerate(LABELS)},
    }
    pre = {
        "do_resize": True,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [MEAN],
        "image_std": [STD],
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
        f.write("\n")
    hf = to_hf(model.state_dict(), args.layers)
    path = os.path.join(out, "model.safetensors")
    save_file(hf, path, metadata={"format": "pt"})
    return path


def verify_export(path, model, args, x_u8):
    """Reload the safetensors file, rebuild the torchvision model, compare logits bit for bit."""
    hf = load_file(path)
    for k, v in hf.items():
        assert v.dtype == torch.float32, k
    sd = from_hf(hf, args.layers)
    ref_sd = model.state_dict()
    assert set(sd) == set(ref_sd), set(sd) ^ set(ref_sd)
    rebuilt = build_model(args.hidden, args.layers, args.heads, args.mlp)
    rebuilt.load_state_dict(sd, strict=True)
    model.eval()
    rebuilt.eval()
    with torch.no_grad():
        x = normalize(x_u8)
        a, b = model(x), rebuilt(x)
    assert torch.equal(a, b), (a - b).abs().max()
    print(f"export check: {len(hf)} tensors, logits on {len(x_u8)} test images identical", flush=True)
    with open(os.path.join(os.path.dirname(path), "config.json")) as f:
        cfg = json.load(f)
    with torch.no_grad():
        c = hf_reference_forward(hf, cfg, x)
    diff = (a - c).abs().max().item()
    assert torch.allclose(a, c, atol=1e-4, rtol=1e-4), diff
    assert torch.equal(a.argmax(1), c.argmax(1))
    print(f"HF-layout reference forward matches torchvision logits (max abs diff {diff:.2e})",
          flush=True)


def verify_only(args):
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.verify_only, "config.json")) as f:
        cfg = json.load(f)
    args.hidden, args.layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    args.heads, args.mlp = cfg["num_attention_heads"], cfg["intermediate_size"]
    path = os.path.join(args.verify_only, "model.safetensors")
    model = build_model(args.hidden, args.layers, args.heads, args.mlp)
    model.load_state_dict(from_hf(load_file(path), args.layers), strict=True)
    xte, yte = load_split("test")
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)
    acc = evaluate(model, xte, yte)
    print(f"{path}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"test top-1 {acc:.4f} ({round(acc * len(yte))}/{len(yte)})", flush=True)
    verify_export(path, model, args, xte[:64])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", default="models/fashion-vit")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--pad", type=int, default=2, help="random-crop padding in pixels (0 = off)")
    ap.add_argument("--no-flip", action="store_true", help="disable random horizontal flip")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (on the 2-core build box 1 was ~2x faster than 2)")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop each epoch after this many steps (timing runs only)")
    ap.add_argument("--init-from", metavar="DIR",
                    help="start from the weights of an earlier run's model directory (continued training)")
    ap.add_argument("--verify-only", metavar="DIR",
                    help="do not train: load DIR (a model directory written by this script), "
                         "re-run the export checks and report its test accuracy")
    args = ap.parse_args()

    if args.verify_only:
        return verify_only(args)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)

    model = build_model(args.hidden, args.layers, args.heads, args.mlp, dropout=args.dropout)
    if args.init_from:
        model.load_state_dict(from_hf(load_file(os.path.join(args.init_from, "model.safetensors")), args.layers),
                              strict=True)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"args: {vars(args)}", flush=True)
    print(f"parameters: {nparams}", flush=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or n in ("class_token", "encoder.pos_embedding") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = len(ytr) // args.batch_size
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total = steps_per_epoch * args.epochs
    warm = int(args.warmup_epochs * steps_per_epoch)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))

    crit = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    step = 0
    t_start = time.time()
    print("| epoch | train loss | train acc | test acc | elapsed s |", flush=True)
    print("|---|---|---|---|---|", flush=True)
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        tot_loss, tot_ok, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
            xb = normalize(augment(xtr[idx], gen, args.pad, not args.no_flip))
            yb = ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(xb)
            loss = crit(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tot_loss += loss.item() * len(yb)
            tot_ok += (logits.argmax(1) == yb).sum().item()
            seen += len(yb)
        acc = evaluate(model, xte, yte)
        print(f"| {epoch} | {tot_loss / seen:.4f} | {tot_ok / seen:.4f} | {acc:.4f} | "
              f"{time.time() - t_start:.0f} |", flush=True)
    wall = time.time() - t_start
    final = evaluate(model, xte, yte)
    print(f"final test top-1: {final:.4f} ({round(final * len(yte))}/{len(yte)})", flush=True)
    print(f"training wall time: {wall:.0f} s", flush=True)

    path = write_model_dir(args.out, model, args)
    print(f"wrote {args.out} ({os.path.getsize(path)} bytes model.safetensors)", flush=True)
    verify_export(path, model, args, xte[:16])


if __name__ == "__main__":
    main()
