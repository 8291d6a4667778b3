#!/usr/bin/env python3
"""PyTorch 1.13 training speed for bench/train_compare.sh: images/s of forward + backward + AdamW
step on random data, for the same ViT shapes vitc trains (torchvision's VisionTransformer with a
C-channel patch convolution; f32; exact GELU; eval-free loop), or with --model resnet vitc's
`resnet` preset (torchvision's BasicBlock ResNet, layers [1, 1, 1, 1], widths [16, 32, 64, 128],
3x3 stem; scripts/resnet_config.py), BatchNorm in training mode. --config takes the shape from a
model directory's config.json instead (a vitc ResNet or a ViT), as `vitc train --arch` does. A ViT
config with vitc's extensions (no class token, mean pooling, sine-cosine positions, shifted patch
tokens, locality self-attention), which torchvision's VisionTransformer cannot express, runs as the
PyTorch reference the training fixtures use (scripts/make_train_fixtures.py's forward, in f32), so
the timed network is the config's, not a plain ViT of the same size.

    /usr/bin/python3 bench/torch_train_bench.py --image 28 --channels 1 --patch 4 --hidden 64 \
        --layers 6 --heads 4 --mlp 128 --classes 10 --batch 128 --threads 2 --steps 10
    /usr/bin/python3 bench/torch_train_bench.py --config models/fashion-cnn/config.json --threads 2

Prints one JSON line: {"framework": "pytorch", "threads": ..., "images_per_second": ...} (the mean
over the timed steps; "median_images_per_second" from the median step).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vision_transformer import VisionTransformer

# scripts/: resnet_config.py (the ResNet) and make_train_fixtures.py (the ViT with extensions).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))


def vit_extensions(c, args):
    """The fixture generator's case description for a config using any of vitc's ViT extensions,
    or None for a plain ViT (class token, learned positions), which torchvision's model is."""
    case = dict(patch=args.patch, channels=args.channels, image=args.image, D=args.hidden, heads=args.heads,
                depth=args.layers, mlp=args.mlp, classes=args.classes, class_token=c.get("class_token", True),
                pooling=c.get("pooling", "cls"), posemb=c.get("position_embedding_type", "learned"),
                shifted=c.get("shifted_patch_tokens", False), lsa=c.get("locality_self_attention", False))
    plain = case["class_token"] and case["pooling"] == "cls" and case["posemb"] == "learned" and not (
        case["shifted"] or case["lsa"])
    return None if plain else case


class FunctionalViT(nn.Module):
    """The training fixtures' PyTorch ViT (every extension vitc has), its parameters in f32."""

    def __init__(self, case):
        super().__init__()
        import make_train_fixtures as reference
        self.reference, self.case = reference, case
        initial = reference.init_parameters(case, torch.Generator().manual_seed(0))
        self.names = list(initial)
        self.weights = nn.ParameterList(nn.Parameter(v.detach().float()) for v in initial.values())

    def forward(self, x):
        return self.reference.forward(dict(zip(self.names, self.weights)), self.case, x)


def main():
    a = argparse.ArgumentParser()
    for name, default in [("image", 28), ("channels", 1), ("patch", 4), ("hidden", 64), ("layers", 6), ("heads", 4),
                          ("mlp", 128), ("classes", 10), ("batch", 128), ("threads", 2), ("steps", 10), ("warmup", 2)]:
        a.add_argument("--" + name, type=int, default=default)
    a.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    a.add_argument("--model", default="vit", choices=["vit", "resnet"])
    a.add_argument("--config", help="a config.json whose shape replaces the options above")
    args = a.parse_args()
    resnet = dict(block="basic", layers=[1, 1, 1, 1], widths=[16, 32, 64, 128], stem="small")
    extended = None  # the fixtures' description of a ViT with extensions
    if args.config:
        c = json.load(open(args.config))
        size = c["image_size"]
        args.image = size[0] if isinstance(size, list) else size
        args.channels = c.get("num_channels", 3)
        args.classes = len(c.get("id2label", {})) or args.classes
        if c.get("model_type") == "resnet":
            args.model = "resnet"
            resnet = {k: c[k] for k in resnet}
        else:
            args.model = "vit"
            args.patch, args.hidden = c["patch_size"], c["hidden_size"]
            args.layers, args.heads, args.mlp = c["num_hidden_layers"], c["num_attention_heads"], c["intermediate_size"]
            extended = vit_extensions(c, args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model == "resnet":
        from resnet_config import ConfigResNet
        m = ConfigResNet(resnet["block"], resnet["layers"], resnet["widths"], resnet["stem"], args.channels,
                         args.classes)
    elif extended:
        m = FunctionalViT(extended)
    else:
        m = VisionTransformer(image_size=args.image, patch_size=args.patch, num_layers=args.layers,
                              num_heads=args.heads, hidden_dim=args.hidden, mlp_dim=args.mlp,
                              num_classes=args.classes)
        m.conv_proj = nn.Conv2d(args.channels, args.hidden, args.patch, stride=args.patch)
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(args.batch, args.channels, args.image, args.image)
    y = torch.randint(0, args.classes, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        if args.dtype == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(m(x), y, label_smoothing=0.1)
        else:
            loss = F.cross_entropy(m(x), y, label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    for _ in range(args.warmup):
        step()
    step_seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        step_seconds.append(time.perf_counter() - start)
    parameters = sum(p.numel() for p in m.parameters())
    print(json.dumps({"framework": "pytorch", "model": args.model + (" (fixture reference)" if extended else ""), "parameters": parameters, "dtype": args.dtype, "threads": args.threads, "batch": args.batch,
                      "images_per_second": args.batch * args.steps / sum(step_seconds),
                      "median_images_per_second": args.batch / statistics.median(step_seconds)}))


if __name__ == "__main__":
    main()
