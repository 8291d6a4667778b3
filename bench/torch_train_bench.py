#!/usr/bin/env python3
"""PyTorch 1.13 training speed for bench/train_compare.sh: images/s of forward + backward + AdamW
step on random data, for the same ViT shapes vitc trains (torchvision's VisionTransformer with a
C-channel patch convolution; f32; exact GELU; eval-free loop), or with --model resnet the bundled
CNN's shape (torchvision's BasicBlock ResNet, layers [1, 1, 1, 1], widths [16, 32, 64, 128], 3x3
stem; scripts/resnet_config.py), BatchNorm in training mode.

    /usr/bin/python3 bench/torch_train_bench.py --image 28 --channels 1 --patch 4 --hidden 64 \
        --layers 6 --heads 4 --mlp 128 --classes 10 --batch 128 --threads 2 --steps 10

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


def main():
    a = argparse.ArgumentParser()
    for name, default in [("image", 28), ("channels", 1), ("patch", 4), ("hidden", 64), ("layers", 6), ("heads", 4),
                          ("mlp", 128), ("classes", 10), ("batch", 128), ("threads", 2), ("steps", 10), ("warmup", 2)]:
        a.add_argument("--" + name, type=int, default=default)
    a.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    a.add_argument("--model", default="vit", choices=["vit", "resnet"])
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model == "resnet":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
        from resnet_config import ConfigResNet
        m = ConfigResNet("basic", [1, 1, 1, 1], [16, 32, 64, 128], "small", args.channels, args.classes)
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
    print(json.dumps({"framework": "pytorch", "model": args.model, "dtype": args.dtype, "threads": args.threads, "batch": args.batch,
                      "images_per_second": args.batch * args.steps / sum(step_seconds),
                      "median_images_per_second": args.batch / statistics.median(step_seconds)}))


if __name__ == "__main__":
    main()
