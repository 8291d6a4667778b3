#!/usr/bin/env python3
"""Small random-weight models in the layouts people bring, for the "Bring your own model" tests:
tests/data/byom/<case>/.

    /usr/bin/python3 scripts/make_byom_fixtures.py     # needs torch 1.13 and torchvision 0.14

Cases (narrow widths, 32x32 inputs; every folder holds io.safetensors with "input" F32
[N,C,H,W], already normalised, and "logits" F32 [N,K], the PyTorch forward in float64):

  timm_resnet18/     a timm hub folder: config.json {"architecture": "resnet18", "num_classes",
                     "num_features", "global_pool", "pretrained_cfg", "label_names"} and
                     model.safetensors. timm is not installed here: timm's ResNet (timm.models.
                     resnet.ResNet) names its tensors exactly as torchvision does (conv1, bn1,
                     layerL.B.convN/bnN, layerL.B.downsample.{0,1}, fc), so the state_dict of
                     torchvision's layout is written unchanged, num_batches_tracked (I64) included.
  hf_resnet/         a Hugging Face transformers ResNetForImageClassification folder: its
                     config.json fields (model_type "resnet", layer_type, depths, hidden_sizes,
                     embedding_size, hidden_act, id2label) and preprocessor_config.json
                     (ConvNextImageProcessor: shortest_edge + crop_pct), weights renamed by
                     transformers' naming (hf_name below). transformers is not installed either:
                     its ResNet computes what torchvision's v1.5 ResNet computes (stride on the 3x3
                     convolution, a 1x1 conv + BN shortcut exactly when the shape changes, BN eps
                     1e-5, the 7x7/2 stem and 3x3/2 max-pool), so the reference forward is
                     torchvision's under the other names.
  torchvision_resnet18/  resnet18.pth, a torch.save'd state_dict (zip format, float32) with one
                     strided view (fc.weight is a transposed slice of a larger tensor: storage
                     offset and strides not trivial), and labels.txt; converted by
                     `vitc convert resnet18.pth --arch resnet18 --image-size 32 --labels labels.txt`.
  torchvision_vit_b_16/  vit_b_16.pth, torchvision's VisionTransformer (patch 16 as vit_b_16, but
                     hidden 32, 2 layers, 2 heads, MLP 64) saved in float16 (HalfStorage); the
                     reference uses the same float16 values in float64. Converted with
                     `vitc convert vit_b_16.pth --arch vit_b_16 --heads 2`.
  tests/fuzz/corpus/checkpoint/  seeds for tests/fuzz/fuzz_checkpoint.cpp: a tiny state_dict
                     (float32 with a strided view, float16, int64) as a checkpoint, its data.pkl
                     alone in protocols 2 and 4, and the malicious pickles alone.
  malicious/         checkpoints whose data.pkl GLOBALs os.system, builtins.eval and
                     subprocess.Popen and REDUCEs them (each would create the file named in it if
                     unpickled by Python): vitc must refuse them without running anything.

Seeds are fixed; torch.set_num_threads(1).
"""
import io
import json
import math
import os
import pickle
import sys
import zipfile
from collections import OrderedDict

import torch
import torch.nn as nn
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from resnet_config import build_model, make_config  # noqa: E402
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, ".."))
OUT = os.path.join(ROOT, "tests", "data", "byom")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def randomise(m, g):
    """Non-trivial weights: He-normal convolutions, BatchNorm with random affine parameters and
    running statistics, a classifier scaled to logits of a few units."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * math.sqrt(2.0 / p[0].numel()))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0))
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.exp(torch.randn(mod.num_features, generator=g) * 0.3))
                mod.num_batches_tracked.fill_(7)


def reference(m, x):
    m = m.double().eval()
    with torch.no_grad():
        return m(x.double()).float()


def write_io(folder, x, logits):
    save_file({"input": x.float().contiguous(), "logits": logits.contiguous()}, os.path.join(folder, "io.safetensors"))


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def resnet(block, layers, widths, classes, seed):
    g = torch.Generator().manual_seed(seed)
    cfg = make_config(block, layers, widths, "imagenet", 3, 32, [f"c{i}" for i in range(classes)])
    m = build_model(cfg).eval()
    randomise(m, g)
    x = torch.randn(2, 3, 32, 32, generator=g)
    return m, x


# --------------------------------------------------------------------------- timm
def timm_case():
    folder = os.path.join(OUT, "timm_resnet18")
    os.makedirs(folder, exist_ok=True)
    m, x = resnet("basic", [2, 2, 2, 2], [4, 8, 8, 16], 3, 101)
    labels = ["sneaker", "sandal", "boot"]
    write_json(os.path.join(folder, "config.json"), {
        "architecture": "resnet18", "num_classes": 3, "num_features": 16, "global_pool": "avg",
        "label_names": labels,
        "pretrained_cfg": {"tag": "byom_fixture", "input_size": [3, 32, 32], "interpolation": "bicubic",
                           "crop_pct": 0.875, "crop_mode": "center", "mean": IMAGENET_MEAN,
                           "std": IMAGENET_STD, "num_classes": 3}})
    # timm's names == torchvision's. scripts/safetensors_io.py cannot write 0-d tensors, so the
    # num_batches_tracked counters are stored as [1] (the loader ignores them either way).
    sd = {k: v.detach().clone().reshape(v.shape or (1,)) for k, v in m.state_dict().items()}
    save_file(sd, os.path.join(folder, "model.safetensors"))
    write_io(folder, x, reference(m, x))


# --------------------------------------------------------------------------- Hugging Face
def hf_name(name):
    """torchvision ResNet name -> transformers ResNetForImageClassification name."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "resnet.embedder.embedder.convolution." + parts[1]
    if parts[0] == "bn1":
        return "resnet.embedder.embedder.normalization." + parts[1]
    if parts[0] == "fc":
        return "classifier.1." + parts[1]
    stage, block = int(parts[0][len("layer"):]) - 1, int(parts[1])
    prefix = f"resnet.encoder.stages.{stage}.layers.{block}."
    if parts[2] == "downsample":
        kind = "convolution" if parts[3] == "0" else "normalization"
        return prefix + "shortcut." + kind + "." + parts[4]
    index = int(parts[2][-1]) - 1  # conv1/bn1 -> layer.0
    kind = "convolution" if parts[2].startswith("conv") else "normalization"
    return prefix + f"layer.{index}.{kind}." + parts[3]


def hf_case():
    folder = os.path.join(OUT, "hf_resnet")
    os.makedirs(folder, exist_ok=True)
    widths, depths = [4, 8, 8, 16], [1, 2, 1, 1]
    m, x = resnet("bottleneck", depths, widths, 4, 202)
    labels = ["tabby cat", "dog", "bird", "fish"]
    write_json(os.path.join(folder, "config.json"), {
        "architectures": ["ResNetForImageClassification"], "model_type": "resnet", "num_channels": 3,
        "embedding_size": widths[0], "hidden_sizes": [w * 4 for w in widths], "depths": depths,
        "layer_type": "bottleneck", "hidden_act": "relu", "downsample_in_first_stage": False,
        "id2label": {str(i): l for i, l in enumerate(labels)},
        "label2id": {l: i for i, l in enumerate(labels)}, "torch_dtype": "float32"})
    write_json(os.path.join(folder, "preprocessor_config.json"), {
        "crop_pct": 0.875, "do_normalize": True, "do_resize": True,
        "image_processor_type": "ConvNextImageProcessor", "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD, "resample": 3, "size": {"shortest_edge": 32}})
    sd = {hf_name(k): v.detach().clone().reshape(v.shape or (1,)) for k, v in m.state_dict().items()}
    save_file(sd, os.path.join(folder, "model.safetensors"))
    write_io(folder, x, reference(m, x))


# --------------------------------------------------------------------------- torchvision .pth
def torchvision_resnet_case():
    folder = os.path.join(OUT, "torchvision_resnet18")
    os.makedirs(folder, exist_ok=True)
    m, x = resnet("basic", [2, 2, 2, 2], [4, 8, 8, 16], 5, 303)
    sd = m.state_dict()
    # fc.weight [5, 16] as a view into a bigger storage: offset 2 * 9 + 3, strides (1, 9).
    big = torch.zeros(20, 9)
    big[2:18, 3:8] = sd["fc.weight"].t()
    sd["fc.weight"] = big[2:18, 3:8].t()
    assert sd["fc.weight"].stride() == (1, 9) and sd["fc.weight"].storage_offset() == 21
    torch.save(sd, os.path.join(folder, "resnet18.pth"))
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("\n".join(["T-shirt", "Trouser", "Pullover", "Dress", "Coat"]) + "\n")
    write_io(folder, x, reference(m, x))


def torchvision_vit_case():
    folder = os.path.join(OUT, "torchvision_vit_b_16")
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(404)
    m = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                          num_classes=3).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for mod in m.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=g))
        for p in m.parameters():  # the values the float16 checkpoint holds
            p.copy_(p.half().float())
    x = torch.randn(2, 3, 32, 32, generator=g)
    torch.save({k: v.half() for k, v in m.state_dict().items()}, os.path.join(folder, "vit_b_16.pth"))
    write_io(folder, x, reference(m, x))


# --------------------------------------------------------------------------- malicious
class _Call:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil_checkpoint(path, payload, protocol=2):
    """A torch.save-shaped zip whose data.pkl calls payload's function when Python unpickles it
    (protocols 2 and 3 name it with GLOBAL, 4 with STACK_GLOBAL; protocol 2 writes Python 2's module
    names where they differ: os.system is posix.system either way)."""
    import builtins
    import subprocess
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        stamp = (1980, 1, 1, 0, 0, 0)  # fixed, so that reruns write the same bytes
        z.writestr(zipfile.ZipInfo("archive/data.pkl", stamp), pickle.dumps({"conv1.weight": payload}, protocol=protocol))
        z.writestr(zipfile.ZipInfo("archive/version", stamp), "3\n")
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    del builtins, subprocess


def malicious_cases():
    import builtins
    import subprocess
    folder = os.path.join(OUT, "malicious")
    os.makedirs(folder, exist_ok=True)
    marker = "/tmp/vitc-byom-pwned"
    evil_checkpoint(os.path.join(folder, "os_system.pth"), _Call(os.system, (f"touch {marker}",)))
    evil_checkpoint(os.path.join(folder, "builtins_eval.pth"),
                    _Call(builtins.eval, (f"open('{marker}', 'w').close()",)), protocol=3)
    evil_checkpoint(os.path.join(folder, "subprocess_popen.pth"), _Call(subprocess.Popen, (["touch", marker],)), protocol=4)


def fuzz_corpus():
    folder = os.path.join(ROOT, "tests", "fuzz", "corpus", "checkpoint")
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(505)
    base = torch.randn(4, 6, generator=g)
    sd = OrderedDict([("conv.weight", torch.randn(2, 1, 2, 2, generator=g)), ("fc.weight", base[1:3, ::2].t()),
                      ("fc.bias", torch.randn(3, generator=g).half()), ("bn.num_batches_tracked", torch.tensor(3))])
    torch.save(sd, os.path.join(folder, "tiny.pth"))
    with zipfile.ZipFile(os.path.join(folder, "tiny.pth")) as z:
        with open(os.path.join(folder, "tiny-data.pkl"), "wb") as f:
            f.write(z.read("tiny/data.pkl"))
    buf = io.BytesIO()
    torch.save({"state_dict": sd, "epoch": 3}, buf, pickle_protocol=4)
    with open(os.path.join(folder, "nested-protocol4.pth"), "wb") as f:
        f.write(buf.getvalue())
    with zipfile.ZipFile(buf) as z:
        with open(os.path.join(folder, "nested-protocol4-data.pkl"), "wb") as f:
            f.write(z.read([n for n in z.namelist() if n.endswith("data.pkl")][0]))
    for name in ("os_system", "builtins_eval", "subprocess_popen"):
        with zipfile.ZipFile(os.path.join(OUT, "malicious", name + ".pth")) as z:
            with open(os.path.join(folder, name + ".pkl"), "wb") as f:
                f.write(z.read("archive/data.pkl"))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    timm_case()
    hf_case()
    torchvision_resnet_case()
    torchvision_vit_case()
    malicious_cases()
    fuzz_corpus()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
