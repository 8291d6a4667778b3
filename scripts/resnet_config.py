#!/usr/bin/env python3
"""ResNet configs ("model_type": "resnet") for the vitc C++ CNN path, and the matching PyTorch
module (torchvision's ResNet generalised to any widths and a small stem).

    # print config.json for a torchvision architecture
    /usr/bin/python3 scripts/resnet_config.py --arch resnet50 --num-classes 1000
    # write a model directory from a torchvision checkpoint (a state_dict saved with torch.save)
    /usr/bin/python3 scripts/resnet_config.py --arch resnet18 --num-classes 1000 \\
        --convert resnet18.pth --out models/resnet18 [--labels labels.txt]
    # self-test: generalised module == torchvision.models.resnet{18,34,50} (names, shapes, output)
    /usr/bin/python3 scripts/resnet_config.py --self-test

config.json format (our own; read by the C++ loader):
    {"model_type": "resnet", "block": "basic" | "bottleneck", "layers": [n1, n2, n3, n4],
     "widths": [w1, w2, w3, w4], "stem": "imagenet" | "small", "num_channels": C,
     "image_size": S, "id2label": {"0": "...", ...}}

stem "imagenet": conv1 = Conv2d(C, w1, 7, stride 2, padding 3, bias=False), bn1, ReLU,
                 MaxPool2d(3, stride 2, padding 1)                       (torchvision's)
stem "small":    conv1 = Conv2d(C, w1, 3, stride 1, padding 1, bias=False), bn1, ReLU, no maxpool
then layer1..layer4 (strides 1, 2, 2, 2) built exactly like torchvision's ResNet._make_layer
(planes = widths[i]; output channels = widths[i] * expansion, expansion 1 for basic and 4 for
bottleneck), AdaptiveAvgPool2d(1), flatten, fc.  Tensor names are torchvision's
(conv1, bn1, layerL.B.{conv1,bn1,conv2,bn2[,conv3,bn3]}, layerL.B.downsample.{0,1}, fc);
BatchNorm "num_batches_tracked" buffers are not exported.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import save_file  # noqa: E402

ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}
BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
# torchvision ImageNet weights: Resize(256) + CenterCrop(224) + these statistics.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def make_config(block, layers, widths, stem, num_channels, image_size, labels):
    return {"model_type": "resnet", "block": block, "layers": list(layers),
            "widths": list(widths), "stem": stem, "num_channels": num_channels,
            "image_size": image_size, "id2label": {str(i): l for i, l in enumerate(labels)}}


def arch_config(arch, num_classes, labels=None, num_channels=3, image_size=224):
    block, layers = ARCHS[arch]
    labels = labels or [f"class{i}" for i in range(num_classes)]
    assert len(labels) == num_classes, (len(labels), num_classes)
    return make_config(block, layers, [64, 128, 256, 512], "imagenet", num_channels, image_size,
                       labels)


class ConfigResNet(nn.Module):
    """torchvision ResNet with configurable widths / stem.  Reuses ResNet._make_layer and
    ResNet._forward_impl unchanged (groups 1, base_width 64, no dilation), so names and
    computation are torchvision's."""

    _make_layer = ResNet._make_layer
    _forward_impl = ResNet._forward_impl

    def __init__(self, block, layers, widths, stem, num_channels, num_classes):
        super().__init__()
        blk = BLOCKS[block]
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(num_channels, widths[0], kernel_size=7, stride=2, padding=3,
                                   bias=False)
        elif stem == "small":
            self.conv1 = nn.Conv2d(num_channels, widths[0], kernel_size=3, stride=1, padding=1,
                                   bias=False)
        else:
            raise ValueError(f"unknown stem {stem!r}")
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet"
                        else nn.Identity())
        self.layer1 = self._make_layer(blk, widths[0], layers[0])
        self.layer2 = self._make_layer(blk, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(blk, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(blk, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * blk.expansion, num_classes)
        # torchvision's init
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self._forward_impl(x)

    def features(self, x):
        """Last feature map before global pooling (layer4 output, after its final ReLU)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_model(cfg):
    return ConfigResNet(cfg["block"], cfg["layers"], cfg["widths"], cfg["stem"],
                        cfg["num_channels"], len(cfg["id2label"]))


def export_state_dict(sd):
    """state_dict -> dict for safetensors: float32, contiguous, num_batches_tracked dropped."""
    return {k: v.detach().float().contiguous().clone() for k, v in sd.items()
            if not k.endswith("num_batches_tracked")}


def self_test():
    """Our module with the torchvision configs has torchvision's names and shapes and computes
    the same function (same weights loaded into both)."""
    import torchvision.models as tvm
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for arch in ARCHS:
        cfg = arch_config(arch, 7, image_size=64)
        ours = build_model(cfg).eval()
        ref = getattr(tvm, arch)(num_classes=7).eval()
        a, b = ours.state_dict(), ref.state_dict()
        assert list(a) == list(b), arch
        assert all(a[k].shape == b[k].shape for k in a), arch
        with torch.no_grad():
            for k, v in b.items():  # perturb BN stats so eval BN is not the identity
                if k.endswith("running_var"):
                    v.uniform_(0.5, 2.0)
                elif k.endswith("running_mean") or k.endswith("bn1.bias"):
                    v.normal_(0, 0.1)
        ours.load_state_dict(b, strict=True)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            ya, yb = ours(x), ref(x)
        assert torch.equal(ya, yb), (arch, (ya - yb).abs().max())
        n = len(export_state_dict(a))
        print(f"{arch}: {len(a)} state_dict entries ({n} exported), "
              f"{sum(p.numel() for p in ref.parameters())} parameters: names, shapes and "
              f"logits identical to torchvision.models.{arch}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS))
    ap.add_argument("--num-classes", type=int, default=1000)
    ap.add_argument("--labels", metavar="FILE", help="class names, one per line (default classN)")
    ap.add_argument("--num-channels", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--convert", metavar="PTH",
                    help="torchvision state_dict (torch.save) to convert to model.safetensors")
    ap.add_argument("--out", metavar="DIR",
                    help="write DIR/config.json (+ preprocessor_config.json with the torchvision "
                         "ImageNet mean/std, + model.safetensors with --convert) instead of "
                         "printing config.json")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.arch:
        ap.error("--arch is required")
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = [l.rstrip("\n") for l in f if l.strip()]
    cfg = arch_config(args.arch, args.num_classes, labels, args.num_channels, args.image_size)
    if not args.out:
        if args.convert:
            ap.error("--convert needs --out")
        print(json.dumps(cfg, indent=2))
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    if args.num_channels == 3:
        pre = {"do_resize": True, "size": {"height": args.image_size, "width": args.image_size},
               "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255,
               "do_normalize": True, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD}
        with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)
            f.write("\n")
    if args.convert:
        sd = torch.load(args.convert, map_location="cpu")
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        m = build_model(cfg).eval()
        m.load_state_dict(sd, strict=True)  # names and shapes must match the config exactly
        save_file(export_state_dict(m.state_dict()), os.path.join(args.out, "model.safetensors"),
                  metadata={"format": "pt", "arch": args.arch})
    print(f"wrote {args.out}: {', '.join(sorted(os.listdir(args.out)))}")


if __name__ == "__main__":
    main()
