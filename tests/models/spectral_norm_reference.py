# Independent reference for the --norm_D spectral discriminator: builds the n-layer PatchGAN with
# torch.nn.utils.spectral_norm on every conv (Identity where the norm would be), loads the state_dict
# written by the C++ side (weight_orig, bias and the same u, v), runs one training-mode forward (one power
# iteration) and one eval-mode forward, and writes both outputs (raw float32) and the updated state_dict.
# Usage: spectral_norm_reference.py STATE INPUT N C H W NDF N_LAYERS OUT_TRAIN OUT_EVAL STATE_AFTER
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm

state, inp = sys.argv[1], sys.argv[2]
n, c, h, w, ndf, n_layers = (int(a) for a in sys.argv[3:9])
out_train, out_eval, state_after = sys.argv[9:12]

layers = [spectral_norm(nn.Conv2d(c, ndf, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
mult = 1
for i in range(1, n_layers + 1):
    prev, mult = mult, min(2 ** i, 8)
    layers += [spectral_norm(nn.Conv2d(ndf * prev, ndf * mult, 4, 2 if i < n_layers else 1, 1)),
               nn.Identity(), nn.LeakyReLU(0.2, True)]
layers.append(spectral_norm(nn.Conv2d(ndf * mult, 1, 4, 1, 1)))


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


d = D()
d.load_state_dict(torch.load(state), strict=True)
x = torch.from_numpy(np.fromfile(inp, dtype=np.float32).reshape(n, c, h, w))
d.train()
y_train = d(x)
d.eval()
with torch.no_grad():
    y_eval = d(x)
y_train.detach().numpy().astype(np.float32).tofile(out_train)
y_eval.numpy().astype(np.float32).tofile(out_eval)
torch.save(d.state_dict(), state_after)
print(" ".join(d.state_dict().keys()))
