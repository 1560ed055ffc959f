# Is a 4x4 stride-2 transposed convolution (U-Net up-sampling; LibTorch 1.13 runs it as
# slow_conv_transpose2d, GEMM through BLAS) faster as four 2x2 convolutions on oneDNN, one per output
# phase, interleaved? Same arithmetic; prints the largest difference and the median seconds of each
# at the up-layer sizes of unet_256 at 256 px.
#   OPENBLAS_NUM_THREADS=1 python3 bench/convtranspose_phases.py
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
TAPS = [[3, 1], [2, 0]]  # kernel taps used by output phase 0 and 1 along one axis (padding 1)


def phase_conv(x, w):
    n, _, h, wd = x.shape
    xp = F.pad(x, (1, 1, 1, 1))
    outs = []
    for ry in (0, 1):
        for rx in (0, 1):
            k = w[:, :, TAPS[ry], :][:, :, :, TAPS[rx]].permute(1, 0, 2, 3).contiguous()
            outs.append(F.conv2d(xp[:, :, ry:ry + h + 1, rx:rx + wd + 1], k))
    y = torch.stack(outs, 2).view(n, -1, 2, 2, h, wd)
    return y.permute(0, 1, 4, 2, 5, 3).reshape(n, -1, 2 * h, 2 * wd)


def median_seconds(fn, n=5):
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[n // 2]


with torch.no_grad():
    for cin, cout, h in [(1024, 512, 8), (1024, 256, 16), (512, 128, 32), (256, 64, 64), (128, 3, 128)]:
        x = torch.randn(1, cin, h, h)
        w = torch.randn(cin, cout, 4, 4) * 0.01
        ref = F.conv_transpose2d(x, w, stride=2, padding=1)
        err = (ref - phase_conv(x, w)).abs().max().item()
        t_ref = median_seconds(lambda: F.conv_transpose2d(x, w, stride=2, padding=1))
        t_phase = median_seconds(lambda: phase_conv(x, w))
        print(f"{cin}->{cout} at {h}x{h}: max diff {err:.1e}, conv_transpose2d {t_ref:.4f} s, 4 phase convs {t_phase:.4f} s")
