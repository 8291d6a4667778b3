#!/usr/bin/env python3
"""Write tests/data/train/distillation_loss.json: DeiT's hard-label distillation loss and its
gradient, computed by PyTorch, for tests/test_distillation.cpp.

    /usr/bin/python3 scripts/make_distillation_fixture.py

loss = (1 - w) F.cross_entropy(z, labels, label_smoothing=eps) + w F.cross_entropy(z, teacher),
in float64, with d loss / d z from autograd, for a few (eps, w).
"""
import json
import os

import torch
import torch.nn.functional as F


def main():
    torch.manual_seed(0)
    N, K = 6, 5
    logits = (torch.randn(N, K, dtype=torch.float64) * 3).float().double()  # float32-exact values
    labels = torch.randint(0, K, (N,))
    teacher = labels.clone()
    teacher[::2] = (labels[::2] + 1 + torch.randint(0, K - 1, (N // 2,))) % K  # half disagree
    cases = []
    for eps, w in [(0.1, 0.5), (0.0, 0.3), (0.2, 1.0)]:
        z = logits.clone().requires_grad_(True)
        loss = (1 - w) * F.cross_entropy(z, labels, label_smoothing=eps) + w * F.cross_entropy(z, teacher)
        loss.backward()
        cases.append(dict(label_smoothing=eps, weight=w, loss=loss.item(), dlogits=z.grad.flatten().tolist()))
    out = dict(N=N, K=K, logits=logits.flatten().tolist(), labels=labels.tolist(), teacher=teacher.tolist(),
               cases=cases, torch=torch.__version__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "train",
                        "distillation_loss.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
