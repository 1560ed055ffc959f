# The U-Net's up-convolution (4x4, stride 2, padding 1) per layer of unet_256 at 256 px, three ways in
# Debian's PyTorch 1.13: LibTorch's conv_transpose2d (im2col + GEMM through OpenBLAS); the same four
# phases as four 2x2 convolutions with the kernels sliced and the input padded on every call (the naive
# rewrite); and what models/packed.cpp runs: one 2x2 oneDNN convolution with 4 x out channels whose
# weights were reordered once, then the phases interleaved. Prints the largest difference from
# conv_transpose2d and the median seconds of each.
#   OPENBLAS_NUM_THREADS=1 python3 bench/convtranspose_phases.py
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
TAPS = [[3, 1], [2, 0]]  # kernel taps of output phase 0 and 1 along one axis, in window order


def phase_kernels(w):
    """[in, out, 4, 4] -> [out, phase, in, 2, 2] as [4 out, in, 2, 2]; output channel 4 c + 2 ry + rx."""
    ks = [w[:, :, TAPS[ry], :][:, :, :, TAPS[rx]].transpose(0, 1) for ry in (0, 1) for rx in (0, 1)]
    return torch.stack(ks, 1).reshape(4 * w.shape[1], w.shape[0], 2, 2).contiguous()


def four_convs(x, w):
    n, _, h, wd = x.shape
    xp = F.pad(x, (1, 1, 1, 1))
    k = phase_kernels(w).view(w.shape[1], 4, w.shape[0], 2, 2)
    y = torch.empty(n, w.shape[1], h, 2, wd, 2)
    for ry in (0, 1):
        for rx in (0, 1):
            y[:, :, :, ry, :, rx] = F.conv2d(xp[:, :, ry:ry + h + 1, rx:rx + wd + 1], k[:, 2 * ry + rx])
    return y.view(n, -1, 2 * h, 2 * wd)


def packed(w):
    cout = w.shape[1]
    k = torch._C._nn.mkldnn_reorder_conv2d_weight(phase_kernels(w).to_mkldnn(), [1, 1], [1, 1], [1, 1], 1)

    def run(x):
        n, _, h, wd = x.shape
        y = torch.mkldnn_convolution(x, k, None, [1, 1], [1, 1], [1, 1], 1).view(n, cout, 2, 2, h + 1, wd + 1)
        out = torch.empty(n, cout, h, 2, wd, 2)
        for ry in (0, 1):
            for rx in (0, 1):
                out[:, :, :, ry, :, rx] = y[:, :, ry, rx, ry:ry + h, rx:rx + wd]
        return out.view(n, cout, 2 * h, 2 * wd)
    return run


def median_seconds(fn, n=9):
    fn()
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[n // 2]


total = [0.0, 0.0, 0.0]
with torch.no_grad():
    for cin, cout, h in [(512, 512, 1), (1024, 512, 2), (1024, 512, 4), (1024, 512, 8), (1024, 256, 16),
                         (512, 128, 32), (256, 64, 64), (128, 3, 128)]:
        x = torch.randn(1, cin, h, h)
        w = torch.randn(cin, cout, 4, 4) * 0.01
        ref = F.conv_transpose2d(x, w, stride=2, padding=1)
        run_packed = packed(w)
        err = max((ref - four_convs(x, w)).abs().max().item(), (ref - run_packed(x)).abs().max().item())
        t = [median_seconds(lambda: F.conv_transpose2d(x, w, stride=2, padding=1)),
             median_seconds(lambda: four_convs(x, w)), median_seconds(lambda: run_packed(x))]
        total = [a + b for a, b in zip(total, t)]
        print(f"{cin}->{cout} at {h}x{h}: max diff {err:.1e}; conv_transpose2d {t[0]:.4f} s, "
              f"4 convs per call {t[1]:.4f} s, packed {t[2]:.4f} s")
print(f"all eight layers: conv_transpose2d {total[0]:.3f} s, 4 convs per call {total[1]:.3f} s, "
      f"packed {total[2]:.3f} s")
