#!/usr/bin/python3
"""A reference CycleGAN run folder for tests/cli/test_cli_cycle.cpp: latest_net_G_A.pth, latest_net_G_B.pth,
latest_net_D_A.pth and latest_net_D_B.pth as the reference's CycleGAN saves them (state_dicts of
resnet_6blocks generators at ngf 8 and basic discriminators at ndf 8, instance norm, no dropout), G_A with
the InstanceNorm running statistics old PyTorch releases saved. Usage: reference_cycle_run.py OUT_DIR
"""

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "reference"))
import networks  # noqa: E402  (the reference architectures)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(17)
nets = {
    "G_A": networks.define_G(3, 3, 8, "resnet_6blocks", norm="instance", use_dropout=False),
    "G_B": networks.define_G(3, 3, 8, "resnet_6blocks", norm="instance", use_dropout=False),
    "D_A": networks.define_D(3, 8, "basic", norm="instance"),
    "D_B": networks.define_D(3, 8, "basic", norm="instance"),
}
for name, net in nets.items():
    state = net.state_dict()
    if name == "G_A":  # an old file: InstanceNorm layers kept running statistics then
        for module_name, m in net.named_modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                state[module_name + ".running_mean"] = torch.zeros(m.num_features)
                state[module_name + ".running_var"] = torch.ones(m.num_features)
    torch.save(state, os.path.join(out, "latest_net_%s.pth" % name))
open(os.path.join(out, "done"), "w").write("ok\n")
