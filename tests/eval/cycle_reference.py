#!/usr/bin/python3
"""Reference CycleGAN fixture for tests/eval/test_cycle_inference.cpp and tests/cli/test_cli_cycle_infer.cpp.

Writes into OUT_DIR what the reference's CycleGAN leaves in checkpoints/<name>/: latest_net_G_A.pth and
latest_net_G_B.pth of resnet_9blocks generators (ngf 8, instance norm, no dropout: the reference's
CycleGAN generators), with the running_mean / running_var / num_batches_tracked entries that PyTorch
0.3/0.4 saved for InstanceNorm layers, as the published files hold. G_A is a zip-format file whose
state_dict carries no _metadata (a plain OrderedDict); G_B is a legacy-format (pre-1.6) file of
net.state_dict() with its _metadata. Also writes 32x32 RGB inputs on the 8-bit grid (testA/0.png,
testB/0.png and raw float32 copies in [-1,1]) and the reference's eval outputs G_A(A), G_B(B) as raw
little-endian float32 [3,32,32]. Usage: cycle_reference.py OUT_DIR
"""

import collections
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "reference"))
import networks  # noqa: E402  (the reference architectures)


def randomize(net, seed):
    """He-scaled weights (the reference init N(0, 0.02) shrinks a deep net's signal to ~0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                w = m.weight
                fan_in = w.shape[1] * w.shape[2] * w.shape[3]
                if isinstance(m, nn.ConvTranspose2d):
                    fan_in = w.shape[0] * w.shape[2] * w.shape[3] / 4
                w.copy_(torch.randn(w.shape, generator=gen) * math.sqrt(1.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def with_old_instance_keys(net, sd):
    """sd plus the running statistics old PyTorch kept for each InstanceNorm layer."""
    for name, module in net.named_modules():
        if isinstance(module, nn.InstanceNorm2d):
            c = module.num_features
            sd[name + ".running_mean"] = torch.zeros(c)
            sd[name + ".running_var"] = torch.ones(c)
            sd[name + ".num_batches_tracked"] = torch.tensor(7)
    return sd


def image(seed, path):
    gen = torch.Generator().manual_seed(seed)
    u8 = (torch.rand(32, 32, 3, generator=gen) * 255).round().to(torch.uint8)
    Image.fromarray(u8.numpy(), "RGB").save(path)
    return (u8.permute(2, 0, 1).float() / 255 * 2 - 1).unsqueeze(0)


def main(out):
    ref = os.path.join(out, "checkpoints", "ref_cycle")
    for d in (ref, os.path.join(out, "data", "testA"), os.path.join(out, "data", "testB")):
        os.makedirs(d, exist_ok=True)
    nets = {}
    for i, name in enumerate(("G_A", "G_B")):
        torch.manual_seed(40 + i)
        net = networks.define_G(3, 3, 8, "resnet_9blocks", "instance", False).cpu()
        randomize(net, 50 + i)
        net.eval()
        nets[name] = net
    plain = collections.OrderedDict((k, v) for k, v in nets["G_A"].state_dict().items())
    assert not hasattr(plain, "_metadata")
    torch.save(with_old_instance_keys(nets["G_A"], plain), os.path.join(ref, "latest_net_G_A.pth"))
    sd_B = nets["G_B"].state_dict()
    assert hasattr(sd_B, "_metadata")
    torch.save(with_old_instance_keys(nets["G_B"], sd_B), os.path.join(ref, "latest_net_G_B.pth"),
               _use_new_zipfile_serialization=False)
    x = image(7, os.path.join(out, "data", "testA", "0.png"))
    y = image(8, os.path.join(out, "data", "testB", "0.png"))
    with torch.no_grad():
        for tag, t in (("input_A", x), ("input_B", y), ("out_A", nets["G_A"](x)), ("out_B", nets["G_B"](y))):
            t[0].contiguous().numpy().astype("<f4").tofile(os.path.join(out, tag + ".bin"))
    open(os.path.join(out, "done"), "w").write("ok\n")


if __name__ == "__main__":
    main(sys.argv[1])
