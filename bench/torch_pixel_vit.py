#!/usr/bin/env python3
"""PyTorch side of bench/attention_sweep.sh: torchvision's VisionTransformer with ViT-Ti's shape
(12 blocks, hidden 192, 3 heads, MLP 768) and patch 1, a token per pixel, random weights, timed
like `vitc bench` (warm-up, then the median of N runs) at one image size. PyTorch 1.13's
nn.MultiheadAttention materialises the [heads, T, T] scores. Prints one JSON line with the
latency and the process's peak resident size (run one size per process: the peak is the
process's).

    /usr/bin/python3 bench/torch_pixel_vit.py --image-size 56 --threads 2
"""
import argparse
import json
import resource
import statistics
import time

import torch
from torchvision.models.vision_transformer import VisionTransformer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VisionTransformer(image_size=args.image_size, patch_size=1, num_layers=12, num_heads=3,
                              hidden_dim=192, mlp_dim=768).eval()
    x = torch.randn(1, 3, args.image_size, args.image_size)
    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.iterations):
            start = time.perf_counter()
            model(x)
            if i >= args.warmup:
                times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"runtime": "pytorch %s" % torch.__version__, "image_size": args.image_size,
                      "tokens": args.image_size ** 2 + 1, "threads": args.threads, "iterations": args.iterations,
                      "latency_ms_median": statistics.median(times), "latency_ms_min": min(times),
                      "peak_resident_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
