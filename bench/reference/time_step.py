"""Times pix2pix training steps (or generator forwards) of the Python reference on random data.

No disk I/O and no data loading: the numbers isolate network compute, which is what a C++ port can
be compared with step for step on the same CPU. A step is exactly train_ref.Pix2Pix.step (G forward,
D step, G step). Warm-up steps are run first and not timed (allocator, BLAS thread start-up).

Prints one JSON object: seconds_per_step_mean, median, steps, threads (plus the settings used).
BLAS threading is controlled by the environment (e.g. OPENBLAS_NUM_THREADS) and is reported as seen,
as is the 1-minute load average before and after (a busy machine inflates every number).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import networks  # noqa: E402
import train_ref  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--size", type=int, default=256, help="square image side")
    a("--batch_size", type=int, default=1)
    a("--netG", default="unet_256")
    a("--netD", default="basic")
    a("--n_layers_D", type=int, default=3)
    a("--ngf", type=int, default=64)
    a("--ndf", type=int, default=64)
    a("--norm", default="batch", choices=["batch", "instance", "none"])
    a("--input_nc", type=int, default=3)
    a("--output_nc", type=int, default=3)
    a("--gan_mode", default="vanilla", choices=["vanilla", "lsgan"])
    a("--threads", type=int, default=0, help="torch.set_num_threads (0 = leave torch's default)")
    a("--steps", type=int, default=10, help="timed steps")
    a("--warmup", type=int, default=3, help="untimed steps first")
    a("--inference", action="store_true", help="time G forward only (no_grad)")
    a("--eval", action="store_true", help="inference with running BN statistics and no dropout")
    a("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.size < 1 or args.batch_size < 1:
        p.error("--steps, --size and --batch_size must be >= 1 and --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    # The training options train_ref expects, with the reference's optimiser defaults.
    train_args = argparse.Namespace(
        input_nc=args.input_nc, output_nc=args.output_nc, ngf=args.ngf, ndf=args.ndf, netG=args.netG,
        netD=args.netD, n_layers_D=args.n_layers_D, norm=args.norm, no_dropout=False, init_type="normal",
        init_gain=0.02, gan_mode=args.gan_mode, lambda_L1=100.0, lr=2e-4, beta1=0.5)
    model = train_ref.Pix2Pix(train_args)
    real_A = torch.rand(args.batch_size, args.input_nc, args.size, args.size) * 2 - 1
    real_B = torch.rand(args.batch_size, args.output_nc, args.size, args.size) * 2 - 1

    if args.inference:
        model.netG.train(not args.eval)

        def run_once():
            with torch.no_grad():
                model.netG(real_A)
    else:
        def run_once():
            model.step(real_A, real_B)

    # Load from other processes skews CPU timings; recorded so numbers can be judged afterwards.
    load_before = os.getloadavg()[0]
    for _ in range(args.warmup):
        run_once()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)

    print(json.dumps({
        "seconds_per_step_mean": statistics.fmean(times),
        "median": statistics.median(times),
        "min": min(times),
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "mode": "inference" + ("_eval" if args.eval else "") if args.inference else "train",
        "size": args.size,
        "batch_size": args.batch_size,
        "netG": args.netG,
        "netD": args.netD,
        "G_params": networks.count_parameters(model.netG),
        "D_params": networks.count_parameters(model.netD),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "torch": torch.__version__,
        "loadavg_1min": [load_before, os.getloadavg()[0]],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
