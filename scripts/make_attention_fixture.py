#!/usr/bin/env python3
"""Writes tests/data/attention/backward.safetensors: one multi-head attention forward and
backward computed by PyTorch in float64, for tests/test_tiled_attention.cpp.

    /usr/bin/python3 scripts/make_attention_fixture.py

Layout: the ViT's packed buffers. qkv F32 [N*T, 3D] (per row the D query values, then key, then
value; head h is columns h*Dh .. h*Dh+Dh-1 of each), dcontext F32 [N*T, D] (the gradient
arriving at the attention output), context F32 [N*T, D], dqkv F32 [N*T, 3D], lse F32 [N, H, T]
(log-sum-exp of each scaled score row). The inputs are rounded to float32 first and the
reference uses exactly those values. Seeded: a rerun gives the same file. T = 29 is not a
multiple of the block sizes the test uses.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

N, H, T, DH = 2, 2, 29, 8
D = H * DH


def main():
    torch.manual_seed(11)
    qkv = (torch.randn(N * T, 3 * D) * 1.5).float().double().requires_grad_(True)
    dcontext = torch.randn(N * T, D).float().double()

    def heads(x):  # [N*T, D] -> [N, H, T, Dh]
        return x.reshape(N, T, H, DH).permute(0, 2, 1, 3)

    q, k, v = heads(qkv[:, :D]), heads(qkv[:, D:2 * D]), heads(qkv[:, 2 * D:])
    scores = q @ k.transpose(-1, -2) / DH ** 0.5
    lse = torch.logsumexp(scores, dim=-1)
    context = (torch.softmax(scores, dim=-1) @ v).permute(0, 2, 1, 3).reshape(N * T, D)
    context.backward(dcontext)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "attention",
                       "backward.safetensors")
    save_file({"qkv": qkv.detach().float(), "dcontext": dcontext.float(), "context": context.detach().float(),
               "dqkv": qkv.grad.float(), "lse": lse.detach().float()}, out,
              metadata={"N": N, "H": H, "T": T, "Dh": DH, "torch": torch.__version__})
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
