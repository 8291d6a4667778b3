#!/usr/bin/env python3
"""PyTorch side of bench/compare.sh: torchvision's ViT with random weights, timed like `vitc bench`
(warm-up, then the median of N runs); optionally exports the f32 model to ONNX for ONNX Runtime.
Prints one JSON object per (precision, batch) line. The precisions, each as a PyTorch user would
get it:
  f32   the model as built.
  bf16  bf16 autocast where it works; on PyTorch 1.13 it fails inside torchvision's vit_b_16
        ("expected scalar type BFloat16 but found Float"), so then the model and input are cast
        to bf16 (`model.to(torch.bfloat16)`), which runs on the same oneDNN.
  int8  torch.ao.quantization.quantize_dynamic on nn.Linear: dynamic per-tensor activations, like
        vitc int8. It converts the MLP layers only: attention's in-projection is not an
        nn.Linear and its out_proj is marked non-quantisable, so those stay f32.

    /usr/bin/python3 bench/torch_bench.py --arch vit_b_16 --batches 1,32 --threads 2 --export /tmp/vit_b_16.onnx
"""
import argparse
import copy
import json
import statistics
import time

import torch
import torchvision


def variant(model, precision, image_size):
    """A function running `model` in `precision` on f32 input, and how it does so."""
    if precision == "f32":
        return model, "as built"
    if precision == "int8":
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return quantized, "quantize_dynamic(nn.Linear), %s engine" % torch.backends.quantized.engine

    def autocast(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x)
    try:
        with torch.inference_mode():
            autocast(torch.randn(1, 3, image_size, image_size))
        return autocast, "autocast"
    except RuntimeError:
        cast = copy.deepcopy(model).to(torch.bfloat16)
        return (lambda x: cast(x.to(torch.bfloat16))), "model.to(bfloat16) (autocast fails)"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="vit_b_16")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precisions", default="f32,bf16,int8")
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
        run, method = variant(model, precision, args.image_size)
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.randn(batch, 3, args.image_size, args.image_size)
            times = []
            with torch.inference_mode():
                for i in range(args.warmup + args.iterations):
                    start = time.perf_counter()
                    run(x)
                    if i >= args.warmup:
                        times.append((time.perf_counter() - start) * 1000)
            median = statistics.median(times)
            print(json.dumps({"runtime": "pytorch %s" % torch.__version__, "precision": precision, "batch": batch,
                              "method": method,
                              "latency_ms_median": median, "latency_ms_min": min(times), "latency_ms_max": max(times),
                              "images_per_second": batch / median * 1000, "threads": args.threads,
                              "blas": torch.__config__.show().count("BLAS_INFO=open") and "openblas" or "see torch config"}),
                  flush=True)


if __name__ == "__main__":
    main()
