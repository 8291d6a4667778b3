#!/usr/bin/env python3
"""Write the PyTorch reference fixtures for the C++ ResNet tests: tests/data/cnn/<case>/.

    /usr/bin/python3 scripts/make_cnn_fixtures.py            # writes tests/data/cnn/*, checks
    /usr/bin/python3 scripts/make_cnn_fixtures.py --check    # only re-verifies the files on disk

Each case folder holds
  config.json        {"model_type": "resnet", "block", "layers", "widths", "stem",
                      "num_channels", "image_size", "id2label"}  (see scripts/resnet_config.py)
  model.safetensors  F32 weights under torchvision's ResNet names (no num_batches_tracked)
  io.safetensors     "input" F32 [N,C,H,W] (already-normalised model input),
                     "features" F32 [N,F,h,w] (layer4 output = last feature map before the global
                     average pool), "logits" F32 [N,K].

Reference model: scripts/resnet_config.ConfigResNet (torchvision ResNet._make_layer /
_forward_impl with configurable widths and stem), eval mode, evaluated in float64
(model.double()), results cast to float32.  The check also recomputes everything with an
independent float64 implementation that folds every BatchNorm into the preceding convolution
(the formula in tests/data/cnn/README.md) and uses only F.conv2d / F.max_pool2d / F.relu.

Weights are random but non-trivial (see init_params): conv weights ~ N(0, 2/fan_in); every
BatchNorm calibrated on the eval-mode statistics of its input and then perturbed (random
running_mean shift, running_var scaled by exp(0.4 n) > 0, random weight and bias); fc scaled so
that the logits have std ~ 3.  Seeds fixed (case i: seed 4321 + i),
torch.set_num_threads(1): reruns give byte-identical files.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from resnet_config import build_model, export_state_dict, make_config  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "cnn")
BN_EPS = 1e-5

# H, W: input size (config image_size = H; the W != H case is a non-square input).
CASES = [
    dict(name="resnet18_layout_gray", block="basic", layers=[2, 2, 2, 2], widths=[8, 16, 32, 64],
         stem="imagenet", C=1, H=32, W=32, K=5, N=2),
    dict(name="resnet50_layout_rgb", block="bottleneck", layers=[3, 4, 6, 3],
         widths=[4, 8, 16, 32], stem="imagenet", C=3, H=40, W=40, K=3, N=2),
    dict(name="small_stem_rgb", block="basic", layers=[1, 1, 1, 1], widths=[8, 16, 16, 32],
         stem="small", C=3, H=28, W=28, K=4, N=3),
    dict(name="resnet34_layout_rgb", block="basic", layers=[3, 4, 6, 3], widths=[4, 8, 8, 16],
         stem="imagenet", C=3, H=64, W=48, K=2, N=2),
]


def case_config(c):
    return make_config(c["block"], c["layers"], c["widths"], c["stem"], c["C"], c["H"],
                       [f"class{i}" for i in range(c["K"])])


# --------------------------------------------------------------------------- weights
def init_params(m, c, g):
    """Random, non-trivial eval-mode parameters with activations kept O(1) through depth.

    Each BatchNorm, in forward order, is calibrated on the actual eval-mode statistics of its
    input (a batch of 16 random images through the already-initialised earlier layers), then
    perturbed: running_mean = mean + 0.3 * std * n, running_var = var * exp(0.4 n) (always
    positive), weight ~ 1 + 0.25 n, bias ~ 0.2 n; for the last BN of each residual branch
    (bn2 basic / bn3 bottleneck) weight ~ 0.5 + 0.15 n instead, so the residual sum grows slowly.
    fc weight ~ N(0, 1) scaled so that the logits have std ~ 3 on the calibration batch,
    fc bias ~ 0.3 n."""
    def nrm(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    m.eval()
    xcal = torch.randn(16, c["C"], c["H"], c["W"], generator=g)
    last = "bn3" if c["block"] == "bottleneck" else "bn2"
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(nrm(mod.weight.shape, math.sqrt(2.0 / fan_in)))
        for name, mod in m.named_modules():  # registration order == dependency order
            if not isinstance(mod, nn.BatchNorm2d):
                continue
            seen = {}
            h = mod.register_forward_pre_hook(lambda _m, inp: seen.setdefault("x", inp[0]))
            m(xcal)
            h.remove()
            t = seen["x"].double()
            mean, var = t.mean(dim=(0, 2, 3)), t.var(dim=(0, 2, 3), unbiased=False)
            n = mod.num_features
            mod.running_mean.copy_(mean + 0.3 * var.sqrt() * nrm(n, 1.0).double())
            mod.running_var.copy_(var * torch.exp(0.4 * nrm(n, 1.0).double()))
            if name.endswith("." + last):
                mod.weight.copy_(nrm(n, 0.15, 0.5))
            else:
                mod.weight.copy_(nrm(n, 0.25, 1.0))
            mod.bias.copy_(nrm(n, 0.2))
        pooled = torch.flatten(m.avgpool(m.features(xcal)), 1)
        w = nrm(m.fc.weight.shape, 1.0)
        scale = 3.0 / (pooled @ w.T).std().item()
        m.fc.weight.copy_(w * scale)
        m.fc.bias.copy_(nrm(m.fc.bias.shape, 0.3))


def reference(m, x):
    """Module forward (float64 module): (features, logits); logits also via torchvision's own
    forward, which must agree."""
    feats = m.features(x)
    logits = m.fc(torch.flatten(m.avgpool(feats), 1))
    full = m(x)
    assert torch.equal(full, logits), (full - logits).abs().max()
    return feats, logits


# --------------------------------------------------------------------------- independent check
def fold(w, conv, bn):
    """conv weight [O,I,kh,kw] + eval BN -> (W', b'):  s = gamma / sqrt(var + eps),
    W' = W * s[o],  b' = beta - mean * s."""
    s = w[bn + ".weight"] / torch.sqrt(w[bn + ".running_var"] + BN_EPS)
    return w[conv + ".weight"] * s[:, None, None, None], w[bn + ".bias"] - w[bn + ".running_mean"] * s


def functional_forward(w, cfg, x, dtype=torch.float64):
    w = {k: v.to(dtype) for k, v in w.items()}
    x = x.to(dtype)
    Wc, bc = fold(w, "conv1", "bn1")
    if cfg["stem"] == "imagenet":
        t = F.relu(F.conv2d(x, Wc, bc, stride=2, padding=3))
        t = F.max_pool2d(t, 3, stride=2, padding=1)
    else:
        t = F.relu(F.conv2d(x, Wc, bc, stride=1, padding=1))
    for L in range(4):
        for B in range(cfg["layers"][L]):
            p = f"layer{L + 1}.{B}."
            s = 2 if (L > 0 and B == 0) else 1
            if p + "downsample.0.weight" in w:
                Wd, bd = fold(w, p + "downsample.0", p + "downsample.1")
                idn = F.conv2d(t, Wd, bd, stride=s)
            else:
                assert s == 1
                idn = t
            if cfg["block"] == "basic":
                W1, b1 = fold(w, p + "conv1", p + "bn1")
                W2, b2 = fold(w, p + "conv2", p + "bn2")
                y = F.relu(F.conv2d(t, W1, b1, stride=s, padding=1))
                y = F.conv2d(y, W2, b2, stride=1, padding=1)
            else:
                W1, b1 = fold(w, p + "conv1", p + "bn1")
                W2, b2 = fold(w, p + "conv2", p + "bn2")
                W3, b3 = fold(w, p + "conv3", p + "bn3")
                y = F.relu(F.conv2d(t, W1, b1))
                y = F.relu(F.conv2d(y, W2, b2, stride=s, padding=1))  # stride on the 3x3
                y = F.conv2d(y, W3, b3)
            t = F.relu(y + idn)
    pooled = t.mean(dim=(2, 3))
    return t, pooled @ w["fc.weight"].T + w["fc.bias"]


def check_case(c):
    d = os.path.join(OUT_DIR, c["name"])
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    assert cfg == case_config(c), c["name"]
    w = load_file(os.path.join(d, "model.safetensors"))
    io = load_file(os.path.join(d, "io.safetensors"))
    assert all(v.dtype == torch.float32 for v in list(w.values()) + list(io.values()))
    x = io["input"]
    assert list(x.shape) == [c["N"], c["C"], c["H"], c["W"]]
    # 1) rebuild the module from the stored tensors; same computation => bit-identical
    m = build_model(cfg).eval()
    missing, unexpected = m.load_state_dict(w, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), \
        (missing, unexpected)
    assert set(w) == set(export_state_dict(m.state_dict()))
    arch = c["name"].split("_")[0]
    if arch in ("resnet18", "resnet34", "resnet50"):  # same tensor names as torchvision's model
        import torchvision.models as tvm
        tv = export_state_dict(getattr(tvm, arch)(num_classes=c["K"]).state_dict())
        assert list(tv) == list(w), c["name"]
    m = m.double()
    with torch.no_grad():
        feats, logits = reference(m, x.double())
        assert torch.equal(logits.float(), io["logits"]), c["name"]
        assert torch.equal(feats.float(), io["features"]), c["name"]
        # 2) independent float64 implementation with BN folded into the convolutions
        f2, l2 = functional_forward(w, cfg, x)
        e_ind = max((l2 - logits).abs().max().item(), (f2 - feats).abs().max().item())
        assert e_ind < 1e-9, (c["name"], e_ind)
        # 3) informative: float32 evaluations (module, and BN folded in float32)
        m32 = m.float()
        f32, l32 = reference(m32, x)
        e32 = max((l32 - io["logits"]).abs().max().item(),
                  (f32 - io["features"]).abs().max().item())
        ff, lf = functional_forward(w, cfg, x, torch.float32)  # BN folded in float32
        efold = max((lf - io["logits"]).abs().max().item(), (ff - io["features"]).abs().max().item())
    return e_ind, e32, efold, logits.abs().max().item(), feats


# --------------------------------------------------------------------------- main
def make_case(c, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = case_config(c)
    m = build_model(cfg)
    init_params(m, c, g)
    x = torch.randn(c["N"], c["C"], c["H"], c["W"], generator=g)
    sd = export_state_dict(m.state_dict())
    m64 = build_model(cfg).eval()
    m64.load_state_dict(m.state_dict())
    m64 = m64.double()
    with torch.no_grad():
        feats, logits = reference(m64, x.double())
    d = os.path.join(OUT_DIR, c["name"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    save_file(sd, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt", "generator": "scripts/make_cnn_fixtures.py"})
    save_file({"input": x, "features": feats.float(), "logits": logits.float()},
              os.path.join(d, "io.safetensors"), metadata={"case": c["name"]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only verify the existing files")
    args = ap.parse_args()
    torch.set_num_threads(1)
    total = 0
    for idx, c in enumerate(CASES):
        if not args.check:
            make_case(c, seed=4321 + idx)
        e_ind, e32, efold, lmax, feats = check_case(c)
        d = os.path.join(OUT_DIR, c["name"])
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
        total += sum(sizes.values())
        nparams = sum(v.numel() for k, v in load_file(os.path.join(d, "model.safetensors")).items())
        zero = (feats == 0).double().mean().item()
        print(f"{c['name']:22s} features {list(feats.shape)} (zero frac {zero:.2f}, max "
              f"{feats.max().item():.2f}), max|logit| {lmax:.3f}, {nparams} stored values")
        print(f"  check ok: folded-f64 vs module-f64 max|d|={e_ind:.1e}, f32 module |d|={e32:.1e},"
              f" f32 folded |d|={efold:.1e}, sizes={sizes}")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
