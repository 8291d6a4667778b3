#!/usr/bin/env python3
"""Write the PyTorch reference fixtures for the C++ ResNet training tests: tests/data/train/resnet_<case>/.

    /usr/bin/python3 scripts/make_resnet_train_fixtures.py

The network is torchvision's ResNet (scripts/resnet_config.py's ConfigResNet: torchvision's
BasicBlock/Bottleneck and _make_layer, any widths, small or ImageNet stem), in train() mode, so
every BatchNorm normalises with the batch's statistics and updates its running ones (momentum 0.1,
unbiased variance), evaluated in float64 and stored as float32. Each case folder holds
  config.json         the architecture in vitc's ResNet fields (as models/fashion-cnn/config.json)
                      and the training settings of the optimiser runs ("label_smoothing", "adamw",
                      "sgd": make_train_fixtures.py's, weight decay on convolution and fc weights)
  fixture.safetensors F32 tensors:
      input [N, C, H, W], labels [N] (class indices stored as floats)
      <name>                   every initial parameter and running statistic, torchvision's names
      logits [N, K], loss [1]  the train-mode forward pass
      grad.<name>              d loss / d parameter
      after.<bn>.running_{mean,var}  the running statistics after that forward
      eval_logits [N, K]       eval() mode (running statistics) after that forward
      adamw.losses [10], sgd.losses [10]  the loss before each of 10 optimiser steps on the batch
      bf16.logits, bf16.loss, bf16.grad.<name>
                               the same train-mode batch in vitc's --precision bf16 arithmetic,
                               emulated in float64: the operands of every convolution and of the
                               fc, forward and backward (x and W; dy and W; x and dy), rounded to
                               bf16; BatchNorm, ReLU, residuals, pooling and the loss exact
      bf16.sensitivity.logits [1], bf16.sensitivity.grad.<name> [1]
                               how far that emulation itself moves, relative to each tensor's largest
                               magnitude, when every convolution result (y, dx, dW) is perturbed by
                               relative noise of 1e-7 (f32's accumulation differs from float64's by
                               that much): the largest move over 3 draws. A value that lies that
                               close to a bf16 rounding boundary rounds the other way, and in these
                               small-batch BatchNorm networks one such flip can move a tensor by
                               1e-3 of its largest value; vitc's f32 accumulation meets the same flips
      autocast_bf16.error.logits [1], autocast_bf16.error.grad.<name> [1]
                               PyTorch's own bf16 error on this batch: float32 under
                               torch.autocast("cpu", bfloat16), max |autocast - reference| /
                               max |reference| per tensor (the yardstick of vitc's bf16)

Initial values: torchvision's initialisation, then BatchNorm weights 1 + 0.2 n, biases 0.2 n,
running means 0.1 n and variances U(0.5, 2) so that no term is trivially 1 or 0. Seeds are fixed.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_train_fixtures import ADAMW, OUT_DIR, SGD, STEPS, Bf16Matmul, bf16, run_optimiser  # noqa: E402
from resnet_config import build_model, make_config  # noqa: E402
from safetensors_io import save_file  # noqa: E402

CASES = [
    dict(name="resnet_basic_small_gray", block="basic", layers=[1, 1, 1, 1], widths=[4, 8, 8, 16], stem="small",
         channels=1, image=16, classes=3, N=4, smoothing=0.0),
    dict(name="resnet_basic_small_rgb", block="basic", layers=[2, 1, 1, 1], widths=[4, 8, 8, 16], stem="small",
         channels=3, image=12, classes=5, N=4, smoothing=0.1),
    dict(name="resnet_bottleneck_imagenet_gray", block="bottleneck", layers=[1, 1, 1, 1], widths=[4, 4, 8, 8],
         stem="imagenet", channels=1, image=48, classes=4, N=4, smoothing=0.1),
    # a 32-channel stage: vitc runs its stride-1 3x3 convolution as Winograd (f32, AVX-512)
    dict(name="resnet_basic_winograd_gray", block="basic", layers=[1, 1, 1, 1], widths=[4, 8, 32, 8], stem="small",
         channels=1, image=16, classes=3, N=4, smoothing=0.1),
]


def make_model(c, g):
    labels = [f"class_{k}" for k in range(c["classes"])]
    cfg = make_config(c["block"], c["layers"], c["widths"], c["stem"], c["channels"], c["image"], labels)
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))  # torchvision's init draws here
    model = build_model(cfg).double()
    with torch.no_grad():
        for name, v in model.state_dict().items():
            shape = v.shape
            if name.endswith("num_batches_tracked"):
                continue
            if "bn" in name or "downsample.1" in name:
                n = torch.randn(shape, generator=g, dtype=torch.float64)
                if name.endswith("weight"):
                    v.copy_(1.0 + 0.2 * n)
                elif name.endswith("bias"):
                    v.copy_(0.2 * n)
                elif name.endswith("running_mean"):
                    v.copy_(0.1 * n)
                elif name.endswith("running_var"):
                    v.copy_(torch.rand(shape, generator=g, dtype=torch.float64) * 1.5 + 0.5)
            v.copy_(v.float().double())  # exactly representable in f32
    return cfg, model


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


NOISE = {"scale": 0.0, "generator": None}  # relative noise on every emulated convolution result


def noisy(t):
    if NOISE["scale"] == 0.0:
        return t
    return t * (1 + NOISE["scale"] * torch.randn(t.shape, generator=NOISE["generator"], dtype=t.dtype))


class Bf16Conv2d(torch.autograd.Function):
    """y = conv(bf16(x), bf16(W)) and the gradients vitc's --precision bf16 computes, each a
    convolution of bf16 operands: dx from bf16(dy) and bf16(W), dW from bf16(x) and bf16(dy)."""

    @staticmethod
    def forward(ctx, x, w, stride, padding):
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding = stride, padding
        return noisy(F.conv2d(bf16(x), bf16(w), None, stride, padding))

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dy = bf16(dy)
        dx = torch.nn.grad.conv2d_input(x.shape, bf16(w), dy, ctx.stride, ctx.padding)
        dw = torch.nn.grad.conv2d_weight(bf16(x), w.shape, dy, ctx.stride, ctx.padding)
        return noisy(dx), noisy(dw), None, None


def emulate_bf16(model):
    """Routes every convolution and the fc of `model` through the bf16 emulation."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.forward = lambda x, m=m: Bf16Conv2d.apply(x, m.weight, m.stride, m.padding)
        elif isinstance(m, torch.nn.Linear):
            m.forward = lambda x, m=m: Bf16Matmul.apply(x, m.weight.t(), 1.0) + m.bias
    return model


def emulated_bf16_pass(c, cfg, init, x, labels):
    model = emulate_bf16(build_model(cfg).double())
    model.load_state_dict(init, strict=False)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=c["smoothing"])
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad
    return out


def bf16_results(c, cfg, init, x, labels):
    exact = emulated_bf16_pass(c, cfg, init, x, labels)
    out = {"bf16." + k: v.float() for k, v in exact.items()}
    sensitivity = {k: 0.0 for k in exact if k != "loss"}
    NOISE["generator"] = torch.Generator().manual_seed(99)
    NOISE["scale"] = 1e-7
    for _ in range(3):
        moved = emulated_bf16_pass(c, cfg, init, x, labels)
        for k in sensitivity:
            d = ((moved[k] - exact[k]).abs().max() / exact[k].abs().max()).item()
            sensitivity[k] = max(sensitivity[k], d)
    NOISE["scale"] = 0.0
    for k, v in sensitivity.items():
        out["bf16.sensitivity." + k] = torch.tensor([v], dtype=torch.float32)
    return out


def autocast_errors(c, cfg, init, x, labels, reference):
    """PyTorch's bf16 mixed precision on this batch against the float64 reference."""
    model = build_model(cfg).float()
    model.load_state_dict({k: v.float() for k, v in init.items()}, strict=False)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(x.float())
    F.cross_entropy(got.float(), labels, label_smoothing=c["smoothing"]).backward()

    def error(a, b):
        return torch.tensor([(a.double() - b.double()).abs().max() / b.double().abs().max()], dtype=torch.float32)

    out = {"autocast_bf16.error.logits": error(got.float(), reference["logits"])}
    for name, p in model.named_parameters():
        out["autocast_bf16.error.grad." + name] = error(p.grad, reference["grad." + name])
    return out


def optimiser_losses(c, cfg, init, x, labels, kind):
    """make_train_fixtures.py's optimiser runs on the module: decay on convolution and fc weights."""
    model = build_model(cfg).double()
    model.load_state_dict(init, strict=False)
    model.train()
    decay = [v for v in model.parameters() if v.dim() > 1]
    rest = [v for v in model.parameters() if v.dim() <= 1]
    return run_optimiser(decay, rest, lambda: F.cross_entropy(model(x), labels, label_smoothing=c["smoothing"]), kind)


def write_case(c, seed):
    g = torch.Generator().manual_seed(seed)
    cfg, model = make_model(c, g)
    init = snapshot(model)
    x = torch.randn(c["N"], c["channels"], c["image"], c["image"], generator=g, dtype=torch.float64).float().double()
    labels = torch.randint(0, c["classes"], (c["N"],), generator=g)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=c["smoothing"])
    loss.backward()
    out = {"input": x.float(), "labels": labels.float(), "logits": logits.detach().float(),
           "loss": loss.detach().float().reshape(1)}
    for name, v in init.items():
        out[name] = v.float()
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.float()
    for name, v in snapshot(model).items():
        if "running" in name:
            out["after." + name] = v.float()
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(x).float()
    out["adamw.losses"] = optimiser_losses(c, cfg, init, x, labels, "adamw")
    out["sgd.losses"] = optimiser_losses(c, cfg, init, x, labels, "sgd")
    out.update(bf16_results(c, cfg, init, x, labels))
    out.update(autocast_errors(c, cfg, init, x, labels, out))
    folder = os.path.join(OUT_DIR, c["name"])
    os.makedirs(folder, exist_ok=True)
    save_file(out, os.path.join(folder, "fixture.safetensors"))
    config = dict(cfg, label_smoothing=c["smoothing"], steps=STEPS, adamw=ADAMW, sgd=SGD)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"{c['name']}: loss {loss.item():.6f}, adamw {out['adamw.losses'][-1].item():.6f}, "
          f"sgd {out['sgd.losses'][-1].item():.6f}")


def main():
    torch.set_num_threads(1)
    for i, c in enumerate(CASES):
        write_case(c, 4321 + i)


if __name__ == "__main__":
    main()
