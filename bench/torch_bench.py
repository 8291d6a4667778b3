#!/usr/bin/env python3
"""PyTorch side of bench/compare.sh: torchvision's ViT with random weights, timed like `vitc bench`
(warm-up, then the median of N runs), in f32 and in bf16 autocast; optionally exports the model
to ONNX for ONNX Runtime. Prints one JSON object per (precision, batch) line.

    /usr/bin/python3 bench/torch_bench.py --arch vit_b_16 --batches 1,32 --threads 2 --export /tmp/vit_b_16.onnx
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="vit_b_16")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precisions", default="f32,bf16")
    p.add_argument("--export", help="also write the model as ONNX here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(weights=None, image_size=args.image_size).eval()
    if args.export:
        x = torch.randn(1, 3, args.image_size, args.image_size)
        torch.onnx.export(model, x, args.export, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=14)
    for precision in args.precisions.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.randn(batch, 3, args.image_size, args.image_size)
            times = []
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                for i in range(args.warmup + args.iterations):
                    start = time.perf_counter()
                    model(x)
                    if i >= args.warmup:
                        times.append((time.perf_counter() - start) * 1000)
            median = statistics.median(times)
            print(json.dumps({"runtime": "pytorch %s" % torch.__version__, "precision": precision, "batch": batch,
                              "latency_ms_median": median, "latency_ms_min": min(times), "latency_ms_max": max(times),
                              "images_per_second": batch / median * 1000, "threads": args.threads,
                              "blas": torch.__config__.show().count("BLAS_INFO=open") and "openblas" or "see torch config"}),
                  flush=True)


if __name__ == "__main__":
    main()
