#!/usr/bin/env python3
"""Reference VGG features for the perceptual-loss tests, computed with torchvision.

Usage: vgg_reference.py OUTDIR
Builds torchvision.models.vgg16() and vgg19() with fixed seeds (random weights, nothing downloaded) and
writes, for each NAME in vgg16, vgg19:
  OUTDIR/NAME.pth          the features.* part of state_dict() (torch.save; the classifier is ~0.5 GB),
                           plus the classifier's biases in vgg16.pth, so a reader must skip classifier.*
  OUTDIR/NAME_feats.pth    {"input": x, "<relu name>": features after that ReLU, ...}
x is a fixed 1x3x32x32 image in the network range [-1,1]; the features are those of torchvision's
normalisation ((x+1)/2 - ImageNet mean) / std, as the C++ VggFeatures applies it.
Then OUTDIR/done is written.
"""
import os
import sys

import torch
import torchvision

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def relu_names(cfg):
    """Maps features index -> reluB_K for a torchvision VGG config."""
    names, block, k, i = {}, 1, 0, 0
    for v in cfg:
        if v == "M":
            block, k, i = block + 1, 0, i + 1
        else:
            k += 1
            names[i + 1] = "relu%d_%d" % (block, k)
            i += 2
    return names


CFG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
CFG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def main(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    for name, ctor, cfg, seed in (("vgg16", torchvision.models.vgg16, CFG16, 16),
                                  ("vgg19", torchvision.models.vgg19, CFG19, 19)):
        torch.manual_seed(seed)
        net = ctor().eval()
        sd = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
        if name == "vgg16":
            sd.update({k: v for k, v in net.state_dict().items() if k.startswith("classifier.") and k.endswith("bias")})
        torch.save(sd, os.path.join(out, name + ".pth"))
        names = relu_names(cfg)
        h = ((x + 1) / 2 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        feats = {"input": x.clone()}
        with torch.no_grad():
            for i, layer in enumerate(net.features):
                h = layer(h)
                if i in names:
                    feats[names[i]] = h.clone()
        torch.save(feats, os.path.join(out, name + "_feats.pth"))
    open(os.path.join(out, "done"), "w").close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: vgg_reference.py OUTDIR")
    main(sys.argv[1])
