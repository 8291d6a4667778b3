#!/usr/bin/env python3
"""Write the PyTorch reference fixtures for the C++ training tests: tests/data/train/<case>/.

    /usr/bin/python3 scripts/make_train_fixtures.py

Each case folder holds
  config.json         the architecture in the HF-style fields vitc reads (+ "pooling",
                      "position_embedding_type", "class_token", "shifted_patch_tokens",
                      "locality_self_attention") and the
                      training settings of the optimiser runs ("label_smoothing", "adamw", "sgd");
  fixture.safetensors F32 tensors:
      input [N, C, H, W], labels [N] (class indices stored as floats)
      <name>            every initial parameter, in timm's names and shapes
      logits [N, K], loss [1]            the forward pass with the initial parameters
      grad.<name>                        d loss / d parameter for that batch
      adamw.losses [10], sgd.losses [10] the loss before each of 10 optimiser steps on the same
                                         batch (train/optimizer.hpp describes the update rules)
      bf16.logits, bf16.loss, bf16.grad.<name>
                                         the same in vitc's --precision bf16 arithmetic, emulated
                                         in float64 (Bf16Ops: the operands of every matmul, forward
                                         and backward, rounded to bf16; the rest exact)
      autocast_bf16.error.logits [1], autocast_bf16.error.grad.<name> [1]
                                         PyTorch's own bf16 error on this batch: the same forward
                                         and backward in float32 under torch.autocast("cpu",
                                         bfloat16), max |autocast - reference| / max |reference|
                                         per tensor (the yardstick of vitc's --precision bf16)

The reference is written out op by op (below) and evaluated in float64; the results are cast to
float32. Pre-norm ViT: exact erf GELU, LayerNorm eps 1e-6, attention softmax(Q K^T / sqrt(Dh)) V,
class token or mean of the patch tokens (after the final LayerNorm), learned positions or the
fixed 2-D sine-cosine ones (zero for the class token); with "shifted_patch_tokens" (one case) the
tokens come from the image and four half-patch diagonally shifted copies, LayerNorm on each token's
vector, then the Linear patch embedding; with "locality_self_attention" (one case) each head h
scores exp(t_h) q.k with a learned log-temperature t_h (blocks.i.attn.log_temperature [H]) instead
of q.k / sqrt(Dh), and the diagonal is masked to -inf before the softmax (Lee et al. 2021, LSA).
Loss: F.cross_entropy with label smoothing.

Optimisers (PyTorch's, in float64) with the learning rate set before each step s of S = 10:
    lr_s = lr (s + 1) / W                               s < W  (linear warm-up, W steps)
    lr_s = lr/2 (1 + cos(pi (s - W) / (S - W)))         s >= W (cosine decay to 0)
after clipping the gradients to a global L2 norm of at most `clip` (clip_grad_norm_).
  AdamW: torch.optim.AdamW(betas, eps), weight decay only on matrices (two param groups).
  SGD:   torch.optim.SGD(momentum, nesterov=True), weight decay (L2, added to the gradient) only on
         matrices.
Seeds are fixed; reruns give identical files.

Also written, for the `vitc train` tests: tests/data/train/images/<class>/<i>.png, a tiny labelled
folder (3 classes of 8 gray 8x8 images: a bright top half, left half or diagonal, with noise), and
tests/data/train/tiny_vit.json, a one-block architecture for it.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "train")
LN_EPS = 1e-6
STEPS = 10

CASES = [
    dict(name="p4_cls_learned", patch=4, channels=1, image=8, D=16, heads=2, depth=2, mlp=32, classes=3, N=3,
         pooling="cls", class_token=True, posemb="learned", smoothing=0.1),
    dict(name="p1_mean_sincos", patch=1, channels=1, image=8, D=16, heads=2, depth=2, mlp=32, classes=4, N=3,
         pooling="mean", class_token=False, posemb="sincos2d", smoothing=0.0),
    dict(name="p4_mean_cls_learned_rgb", patch=4, channels=3, image=12, D=24, heads=2, depth=2, mlp=48, classes=5,
         N=4, pooling="mean", class_token=True, posemb="learned", smoothing=0.2),
    dict(name="p2_cls_sincos", patch=2, channels=2, image=8, D=16, heads=2, depth=2, mlp=32, classes=3, N=4,
         pooling="cls", class_token=True, posemb="sincos2d", smoothing=0.1),
    dict(name="p4_cls_learned_shifted", patch=4, channels=2, image=12, D=16, heads=2, depth=2, mlp=32, classes=3, N=3,
         pooling="cls", class_token=True, posemb="learned", smoothing=0.1, shifted=True),
    dict(name="p2_mean_sincos_shifted_lsa", patch=2, channels=1, image=8, D=16, heads=2, depth=2, mlp=32, classes=3,
         N=3, pooling="mean", class_token=False, posemb="sincos2d", smoothing=0.1, shifted=True, lsa=True),
]
COPIES = 5  # shifted patch tokens: the image and four diagonally shifted copies
ADAMW = dict(lr=3e-3, warmup=3, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.05, clip=1.0)
SGD = dict(lr=0.05, warmup=2, momentum=0.9, weight_decay=1e-3, clip=1.0)


def posemb_sincos_2d(gh, gw, dim, temperature=10000.0):
    y, x = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64), indexing="ij")
    q = dim // 4
    omega = 1.0 / (temperature ** (torch.arange(q, dtype=torch.float64) / (q - 1)))
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)


def parameter_shapes(c):
    D, M, P, C, K = c["D"], c["mlp"], c["patch"], c["channels"], c["classes"]
    T = (c["image"] // P) ** 2 + (1 if c["class_token"] else 0)
    shapes = []
    if c.get("shifted"):
        V = COPIES * C * P * P
        shapes += [("patch_embed.input_norm.weight", [V]), ("patch_embed.input_norm.bias", [V])]
        C = COPIES * C
    shapes += [("patch_embed.proj.weight", [D, C, P, P]), ("patch_embed.proj.bias", [D])]
    if c["class_token"]:
        shapes.append(("cls_token", [1, 1, D]))
    if c["posemb"] == "learned":
        shapes.append(("pos_embed", [1, T, D]))
    for i in range(c["depth"]):
        b = f"blocks.{i}."
        shapes += [(b + "norm1.weight", [D]), (b + "norm1.bias", [D]), (b + "attn.qkv.weight", [3 * D, D]),
                   (b + "attn.qkv.bias", [3 * D])]
        if c.get("lsa"):
            shapes.append((b + "attn.log_temperature", [c["heads"]]))
        shapes += [(b + "attn.proj.weight", [D, D]), (b + "attn.proj.bias", [D]),
                   (b + "norm2.weight", [D]), (b + "norm2.bias", [D]), (b + "mlp.fc1.weight", [M, D]),
                   (b + "mlp.fc1.bias", [M]), (b + "mlp.fc2.weight", [D, M]), (b + "mlp.fc2.bias", [D])]
    shapes += [("norm.weight", [D]), ("norm.bias", [D]), ("head.weight", [K, D]), ("head.bias", [K])]
    return shapes


def init_parameters(c, g):
    """Random but non-trivial: LayerNorm weights 1 + 0.2 n, biases 0.2 n, matrices 1/sqrt(fan_in)."""
    params = {}
    for name, shape in parameter_shapes(c):
        n = torch.randn(shape, generator=g, dtype=torch.float64)
        if "norm" in name and name.endswith("weight"):
            v = 1.0 + 0.2 * n
        elif name.endswith("log_temperature"):
            # Around plain attention's 1/sqrt(Dh), each head apart (the gradient test then also
            # sees attention sharper and softer than plain).
            v = math.log(1.0 / math.sqrt(c["D"] // c["heads"])) + 0.1 * n
        elif name.endswith("bias"):
            v = 0.2 * n
        elif name in ("cls_token", "pos_embed"):
            v = 0.5 * n
        else:
            fan_in = math.prod(shape[1:])
            v = n * (1.5 if "qkv" in name else 1.0) / math.sqrt(fan_in)
        params[name] = v.float().double().requires_grad_(True)  # exactly representable in f32
    return params


def bf16(t):
    """t rounded to bfloat16 (to nearest even), as float64."""
    return t.float().bfloat16().double()


class Bf16Matmul(torch.autograd.Function):
    """C = bf16(A) bf16(B) / divisor, and the gradients vitc's --precision bf16 computes, each a
    matmul of bf16 operands: dA = bf16(dC) bf16(B)^T / divisor, dB = bf16(A)^T bf16(dC) / divisor.
    Everything else (the products' sums included) is float64."""

    @staticmethod
    def forward(ctx, a, b, divisor):
        ctx.save_for_backward(a, b)
        ctx.divisor = divisor
        return bf16(a) @ bf16(b) / divisor

    @staticmethod
    def backward(ctx, dc):
        a, b = ctx.saved_tensors
        dc = bf16(dc)
        return dc @ bf16(b).transpose(-1, -2) / ctx.divisor, bf16(a).transpose(-1, -2) @ dc / ctx.divisor, None


class ExactOps:
    """The reference's matrix products."""
    linear = staticmethod(F.linear)

    @staticmethod
    def patch_embed(x, w, b, P):                                     # -> [N, Np, D], row-major patches
        return F.conv2d(x, w, b, stride=P).flatten(2).transpose(1, 2)

    @staticmethod
    def matmul(a, b, divisor=1.0):
        return a @ b / divisor


class Bf16Ops:
    """vitc's --precision bf16: every Linear (the patch embedding as one on the patches) and the
    attention's two batched products take bf16 operands; bias, LayerNorm, softmax, GELU, the
    residuals and the loss stay exact."""

    @staticmethod
    def linear(x, w, b):
        y = Bf16Matmul.apply(x.reshape(-1, x.shape[-1]), w.t(), 1.0) + b
        return y.reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def patch_embed(x, w, b, P):
        patches = F.unfold(x, P, stride=P).transpose(1, 2)          # [N, Np, C*P*P], (c, y, x) order
        return Bf16Ops.linear(patches, w.reshape(w.shape[0], -1), b)

    @staticmethod
    def matmul(a, b, divisor=1.0):
        return Bf16Matmul.apply(a, b, divisor)


def shifted_copies(x, s):
    """Shifted patch tokenisation's input (Lee et al. 2021): x and four copies shifted by s pixels
    along the diagonals, copy(y, x) = x(y + dy, x + dx) for (dy, dx) = (-s,-s), (-s,+s), (+s,-s),
    (+s,+s), zero outside, stacked as channels [x, copy 1, ..., copy 4]."""
    H, W = x.shape[2], x.shape[3]
    padded = F.pad(x, (s, s, s, s))
    copies = [x] + [padded[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in ((-s, -s), (-s, s), (s, -s), (s, s))]
    return torch.cat(copies, dim=1)


def patch_tokens(p, c, x, ops):
    """[N, Np, D]: the patch embedding, or with shifted patch tokens LayerNorm on each token's
    vector of the shifted copies' patches ((channel, row, column) order), then the Linear layer."""
    P = c["patch"]
    w, b = p["patch_embed.proj.weight"], p["patch_embed.proj.bias"]
    if not c.get("shifted"):
        return ops.patch_embed(x, w, b, P)
    vectors = F.unfold(shifted_copies(x, P // 2), P, stride=P).transpose(1, 2)
    vectors = F.layer_norm(vectors, (vectors.shape[-1],), p["patch_embed.input_norm.weight"],
                           p["patch_embed.input_norm.bias"], LN_EPS)
    return ops.linear(vectors, w.reshape(w.shape[0], -1), b)


def forward(p, c, x, ops=ExactOps):
    P, D, H = c["patch"], c["D"], c["heads"]
    N = x.shape[0]
    gh, gw = x.shape[2] // P, x.shape[3] // P
    t = patch_tokens(p, c, x, ops)
    if c["class_token"]:
        t = torch.cat([p["cls_token"].expand(N, -1, -1), t], dim=1)
    if c["posemb"] == "learned":
        pos = p["pos_embed"]
    else:
        pos = posemb_sincos_2d(gh, gw, D).to(p["patch_embed.proj.weight"].dtype)  # float32 under autocast
        if c["class_token"]:
            pos = torch.cat([torch.zeros(1, D, dtype=pos.dtype), pos])
        pos = pos.unsqueeze(0)
    t = t + pos
    T, Dh = t.shape[1], D // H
    for i in range(c["depth"]):
        b = f"blocks.{i}."
        y = F.layer_norm(t, (D,), p[b + "norm1.weight"], p[b + "norm1.bias"], LN_EPS)
        qkv = ops.linear(y, p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"])
        q, k, v = qkv.reshape(N, T, 3, H, Dh).permute(2, 0, 3, 1, 4)  # [N, H, T, Dh] each
        if c.get("lsa"):
            # exp(t_h) q.k, written as vitc's bf16 arithmetic has it: the queries scaled in full
            # precision by exp(t_h) sqrt(Dh), then the product divided by sqrt(Dh) as usual.
            q = q * (p[b + "attn.log_temperature"].exp() * math.sqrt(Dh)).view(1, H, 1, 1)
        scores = ops.matmul(q, k.transpose(-1, -2), math.sqrt(Dh))
        if c.get("lsa"):
            scores = scores.masked_fill(torch.eye(T, dtype=torch.bool), float("-inf"))
        a = torch.softmax(scores, dim=-1)
        ctx = ops.matmul(a, v).transpose(1, 2).reshape(N, T, D)
        t = t + ops.linear(ctx, p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        y = F.layer_norm(t, (D,), p[b + "norm2.weight"], p[b + "norm2.bias"], LN_EPS)
        h = F.gelu(ops.linear(y, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"]))
        t = t + ops.linear(h, p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"])
    t = F.layer_norm(t, (D,), p["norm.weight"], p["norm.bias"], LN_EPS)
    prefix = 1 if c["class_token"] else 0
    pooled = t[:, 0] if c["pooling"] == "cls" else t[:, prefix:].mean(1)
    return ops.linear(pooled, p["head.weight"], p["head.bias"])


def bf16_results(c, init, x, labels):
    """The same batch through Bf16Ops: what vitc's --precision bf16 computes, up to f32 rounding."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in init.items()}
    logits = forward(p, c, x, Bf16Ops)
    loss = F.cross_entropy(logits, labels, label_smoothing=c["smoothing"])
    loss.backward()
    out = {"bf16.logits": logits.detach().float().contiguous(), "bf16.loss": loss.detach().float().reshape(1)}
    for name, v in p.items():
        out["bf16.grad." + name] = v.grad.float().clone(memory_format=torch.contiguous_format)
    return out


def autocast_errors(c, init, x, labels, logits, reference):
    """PyTorch's bf16 mixed precision on this batch, relative to the float64 reference: CPU autocast
    runs linear, conv and matmul with bf16 operands and bf16 results (LayerNorm, softmax and GELU
    then see bf16 too); the parameters and their gradients stay float32."""
    p = {k: v.detach().float().requires_grad_(True) for k, v in init.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = forward(p, c, x.float())
    loss = F.cross_entropy(got.float(), labels, label_smoothing=c["smoothing"])
    loss.backward()

    def error(a, b):
        return torch.tensor([(a.double() - b.double()).abs().max() / b.double().abs().max()], dtype=torch.float32)

    out = {"autocast_bf16.error.logits": error(got.float(), logits.detach())}
    for name, v in p.items():
        out["autocast_bf16.error.grad." + name] = error(v.grad, reference["grad." + name])
    return out


def learning_rate(s, base, warmup):
    if s < warmup:
        return base * (s + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (s - warmup) / (STEPS - warmup)))


def run_optimiser(decay, rest, loss_fn, kind):
    """The loss before each of STEPS steps of `kind` (ADAMW or SGD's settings) on one batch:
    weight decay on the `decay` tensors only, the learning rate scheduled, gradients clipped."""
    s = ADAMW if kind == "adamw" else SGD
    groups = [dict(params=decay, weight_decay=s["weight_decay"]), dict(params=rest, weight_decay=0.0)]
    if kind == "adamw":
        opt = torch.optim.AdamW(groups, lr=s["lr"], betas=tuple(s["betas"]), eps=s["eps"])
    else:
        opt = torch.optim.SGD(groups, lr=s["lr"], momentum=s["momentum"], nesterov=True)
    losses = []
    for step in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, s["lr"], s["warmup"])
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decay + rest, s["clip"])
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float32)


def optimiser_losses(c, init, x, labels, kind):
    p = {k: v.detach().clone().requires_grad_(True) for k, v in init.items()}
    decay = [v for k, v in p.items() if k.endswith("weight") and "norm" not in k]
    rest = [v for k, v in p.items() if not (k.endswith("weight") and "norm" not in k)]
    return run_optimiser(decay, rest, lambda: F.cross_entropy(forward(p, c, x), labels, label_smoothing=c["smoothing"]),
                         kind)


def write_case(c, seed):
    g = torch.Generator().manual_seed(seed)
    params = init_parameters(c, g)
    x = torch.randn(c["N"], c["channels"], c["image"], c["image"], generator=g, dtype=torch.float64).float().double()
    labels = torch.randint(0, c["classes"], (c["N"],), generator=g)
    logits = forward(params, c, x)
    loss = F.cross_entropy(logits, labels, label_smoothing=c["smoothing"])
    loss.backward()
    out = {"input": x.float(), "labels": labels.float(), "logits": logits.detach().float(),
           "loss": loss.detach().float().reshape(1)}
    for name, v in params.items():
        out[name] = v.detach().float()
        out["grad." + name] = v.grad.float()
    out.update(bf16_results(c, params, x, labels))
    out.update(autocast_errors(c, params, x, labels, logits, out))
    out["adamw.losses"] = optimiser_losses(c, params, x, labels, "adamw")
    out["sgd.losses"] = optimiser_losses(c, params, x, labels, "sgd")
    folder = os.path.join(OUT_DIR, c["name"])
    os.makedirs(folder, exist_ok=True)
    save_file(out, os.path.join(folder, "fixture.safetensors"))
    config = {"model_type": "vit", "hidden_size": c["D"], "num_hidden_layers": c["depth"],
              "num_attention_heads": c["heads"], "intermediate_size": c["mlp"], "hidden_act": "gelu",
              "layer_norm_eps": LN_EPS, "image_size": c["image"], "patch_size": c["patch"],
              "num_channels": c["channels"], "pooling": c["pooling"], "position_embedding_type": c["posemb"],
              "class_token": c["class_token"], "id2label": {str(k): f"class_{k}" for k in range(c["classes"])},
              "label_smoothing": c["smoothing"], "steps": STEPS, "adamw": ADAMW, "sgd": SGD}
    if c.get("shifted"):
        config["shifted_patch_tokens"] = True
    if c.get("lsa"):
        config["locality_self_attention"] = True
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"{c['name']}: loss {loss.item():.6f}, adamw {out['adamw.losses'][-1].item():.6f}, "
          f"sgd {out['sgd.losses'][-1].item():.6f}")


def write_image_folder(seed):
    from torchvision.io import write_png
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    patterns = {"diagonal": (x - y).abs() <= 1, "left": x < 4, "top": y < 4}
    for name, mask in patterns.items():
        folder = os.path.join(OUT_DIR, "images", name)
        os.makedirs(folder, exist_ok=True)
        for i in range(8):
            noise = torch.randint(0, 60, (8, 8), generator=g)
            image = (mask.long() * 170 + noise).clamp(0, 255).to(torch.uint8)
            write_png(image.unsqueeze(0), os.path.join(folder, f"{i}.png"))
    arch = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "image_size": 8, "patch_size": 4, "num_channels": 1, "layer_norm_eps": LN_EPS}
    with open(os.path.join(OUT_DIR, "tiny_vit.json"), "w") as f:
        json.dump(arch, f, indent=2)
        f.write("\n")


def main():
    torch.set_num_threads(1)
    for i, c in enumerate(CASES):
        write_case(c, 1234 + i)
    write_image_folder(99)


if __name__ == "__main__":
    main()
