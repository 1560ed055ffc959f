"""CycleGAN training step in PyTorch, for exactness tests and side-by-side timing of pix2pix.cpp.

Follows the reference implementation's cycle_gan_model.py (junyanz/pytorch-CycleGAN-and-pix2pix) in its
semantics, written from the facts in shared/REFERENCE_EVAL.md section 5; no code was copied. Networks
come from networks.py (resnet_9blocks, instance norm, no dropout; basic PatchGAN D), so state_dict keys
are those of reference checkpoints (latest_net_G_A.pth ...).

One step (optimize_parameters, in the reference's order):
  1. forward: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A);
  2. G step, both Ds frozen: GAN(D_A(fake_B), real) + GAN(D_B(fake_A), real)
       + lambda_A L1(rec_A, A) + lambda_B L1(rec_B, B)
       + [lambda_identity > 0] lambda_identity (lambda_B L1(G_A(B), B) + lambda_A L1(G_B(A), A));
  3. D step: D_A on real B and a pooled fake_B, D_B on real A and a pooled fake_A, each
     0.5 (GAN(real, real) + GAN(fake.detach(), fake)), one backward each, then one Adam step.
Losses are reported as the reference logs them (weighted): D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B,
idt_B (G_A / G_B are the unweighted GAN terms).

One deliberate difference: the image pool draws its coin and its slot from torch's global generator
(torch.rand(1) then torch.randint(0, pool_size, (1,))) where the reference uses Python's `random`. The
C++ pool (src/p2p/train/image_pool.cpp) draws at::rand({1}) then at::randint(0, size, {1}) from
LibTorch's global generator, which torch.manual_seed seeds identically, so after the same seed both
sides make the same pool choices and a multi-step run can be compared tensor by tensor. The draw
probabilities are the reference's: swap with p = 1/2, slot uniform over the pool.

Modes:
  fixture OUT_DIR [...]   seeded nets and batches, `steps` steps; writes init_<net>.pth, data.pth,
                          losses.json, after_<net>.pth, grad_<net>.pth, meta.json (for
                          tests/train/test_cycle_gan_reference.cpp)
  time [...]              seconds per step on random data, one JSON line (like time_step.py)
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import networks  # noqa: E402

NETS = ("G_A", "G_B", "D_A", "D_B")
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


class GANLoss:
    """lsgan: MSE to 1 / 0; vanilla: BCE on logits. The target has the prediction's shape."""

    def __init__(self, gan_mode):
        if gan_mode not in ("lsgan", "vanilla"):
            raise networks.ConfigError(f"--gan_mode: expected lsgan or vanilla, got '{gan_mode}'")
        self.gan_mode = gan_mode

    def __call__(self, prediction, target_is_real):
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        if self.gan_mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)


class ImagePool:
    """Reference pool semantics with torch's global generator (see the module docstring).

    Until `pool_size` images are stored, each new image is stored and returned. Then, per image: with
    p = 1/2 a random stored image is returned and the new one takes its slot, else the new one is
    returned. `events` records what happened, so a test can see that the random branch ran.
    """

    def __init__(self, pool_size):
        self.pool_size = pool_size
        self.images = []
        self.events = []

    def query(self, images):
        if self.pool_size <= 0:
            return images
        out = []
        for image in images:
            image = image.detach().unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
                self.events.append("store")
            elif torch.rand(1).item() > 0.5:
                slot = int(torch.randint(0, self.pool_size, (1,)).item())
                out.append(self.images[slot].clone())
                self.images[slot] = image
                self.events.append(f"swap {slot}")
            else:
                out.append(image)
                self.events.append("keep")
        return torch.cat(out, 0)


class CycleGAN:
    """G_A: A -> B, G_B: B -> A, D_A judges B images, D_B judges A images; one Adam per pair."""

    def __init__(self, args):
        self.args = args
        if args.lambda_identity > 0 and args.input_nc != args.output_nc:
            # The reference asserts here too: G_A(B) needs B to have A's channel count.
            raise networks.ConfigError("--lambda_identity > 0 needs --input_nc == --output_nc")
        g = dict(ngf=args.ngf, netG=args.netG, norm=args.norm, use_dropout=not args.no_dropout,
                 init_type=args.init_type, init_gain=args.init_gain)
        d = dict(ndf=args.ndf, netD=args.netD, n_layers_D=args.n_layers_D, norm=args.norm,
                 init_type=args.init_type, init_gain=args.init_gain)
        # The reference's construction (and so initialisation) order: G_A, G_B, D_A, D_B.
        self.G_A = networks.define_G(args.input_nc, args.output_nc, **g)
        self.G_B = networks.define_G(args.output_nc, args.input_nc, **g)
        self.D_A = networks.define_D(args.output_nc, **d)
        self.D_B = networks.define_D(args.input_nc, **d)
        self.gan = GANLoss(args.gan_mode)
        betas = (args.beta1, 0.999)
        self.opt_G = torch.optim.Adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters()),
                                      lr=args.lr, betas=betas)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()),
                                      lr=args.lr, betas=betas)
        self.pool_fake_A = ImagePool(args.pool_size)
        self.pool_fake_B = ImagePool(args.pool_size)

    def nets(self):
        return {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}

    @staticmethod
    def _set_requires_grad(nets, flag):
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def _backward_D(self, net, real, fake):
        loss = 0.5 * (self.gan(net(real), True) + self.gan(net(fake.detach()), False))
        loss.backward()
        return loss

    def optimize_parameters(self, real_A, real_B):
        """One step; returns the eight losses (weighted, as the reference logs them) as floats."""
        a = self.args
        fake_B = self.G_A(real_A)
        rec_A = self.G_B(fake_B)
        fake_A = self.G_B(real_B)
        rec_B = self.G_A(fake_A)

        # G step: the Ds are frozen so G's objective leaves no gradient in them.
        self._set_requires_grad([self.D_A, self.D_B], False)
        self.opt_G.zero_grad()
        if a.lambda_identity > 0:
            loss_idt_A = F.l1_loss(self.G_A(real_B), real_B) * a.lambda_B * a.lambda_identity
            loss_idt_B = F.l1_loss(self.G_B(real_A), real_A) * a.lambda_A * a.lambda_identity
        else:
            loss_idt_A = loss_idt_B = 0
        loss_G_A = self.gan(self.D_A(fake_B), True)
        loss_G_B = self.gan(self.D_B(fake_A), True)
        loss_cycle_A = F.l1_loss(rec_A, real_A) * a.lambda_A
        loss_cycle_B = F.l1_loss(rec_B, real_B) * a.lambda_B
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        loss_G.backward()
        self.opt_G.step()

        # D step: D_A on real B and a pooled fake B, then D_B on real A and a pooled fake A.
        self._set_requires_grad([self.D_A, self.D_B], True)
        self.opt_D.zero_grad()
        loss_D_A = self._backward_D(self.D_A, real_B, self.pool_fake_B.query(fake_B))
        loss_D_B = self._backward_D(self.D_B, real_A, self.pool_fake_A.query(fake_A))
        self.opt_D.step()

        value = lambda t: float(t.item()) if torch.is_tensor(t) else float(t)  # noqa: E731
        return {"D_A": value(loss_D_A), "G_A": value(loss_G_A), "cycle_A": value(loss_cycle_A),
                "idt_A": value(loss_idt_A), "D_B": value(loss_D_B), "G_B": value(loss_G_B),
                "cycle_B": value(loss_cycle_B), "idt_B": value(loss_idt_B)}


def _state(net):
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def _grads(net):
    out = {}
    for name, p in net.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"{name} has no gradient after the step")
        out[name] = p.grad.detach().clone().contiguous()
    return out


def run_fixture(args):
    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(args.seed)
    model = CycleGAN(args)
    for name, net in model.nets().items():
        torch.save(_state(net), os.path.join(out, f"init_{name}.pth"))
    data = {}
    for i in range(args.steps):
        data[f"A.{i}"] = torch.rand(args.batch, args.input_nc, args.size, args.size) * 2 - 1
        data[f"B.{i}"] = torch.rand(args.batch, args.output_nc, args.size, args.size) * 2 - 1
    torch.save(data, os.path.join(out, "data.pth"))

    # The steps' only random draws are the pools'; the C++ side seeds the same way before its steps.
    torch.manual_seed(args.step_seed)
    losses = [model.optimize_parameters(data[f"A.{i}"], data[f"B.{i}"]) for i in range(args.steps)]
    for name, net in model.nets().items():
        torch.save(_state(net), os.path.join(out, f"after_{name}.pth"))
        torch.save(_grads(net), os.path.join(out, f"grad_{name}.pth"))
    with open(os.path.join(out, "losses.json"), "w") as f:
        json.dump(losses, f, indent=1)
    meta = {k: v for k, v in vars(args).items() if k not in ("mode", "out_dir")}
    meta["pool_events"] = {"fake_B": model.pool_fake_B.events, "fake_A": model.pool_fake_A.events}
    meta["torch"] = torch.__version__
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return 0


def run_time(args):
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = CycleGAN(args)
    real_A = torch.rand(args.batch, args.input_nc, args.size, args.size) * 2 - 1
    real_B = torch.rand(args.batch, args.output_nc, args.size, args.size) * 2 - 1
    load_before = os.getloadavg()[0]
    for _ in range(args.warmup):
        model.optimize_parameters(real_A, real_B)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.optimize_parameters(real_A, real_B)
        times.append(time.perf_counter() - start)
    count = networks.count_parameters
    print(json.dumps({
        "seconds_per_step_mean": statistics.fmean(times),
        "median": statistics.median(times),
        "min": min(times),
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "mode": "cycle_gan_train",
        "size": args.size,
        "batch_size": args.batch,
        "netG": args.netG,
        "netD": args.netD,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "pool_size": args.pool_size,
        "lambda_identity": args.lambda_identity,
        "G_params": count(model.G_A) + count(model.G_B),
        "D_params": count(model.D_A) + count(model.D_B),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "torch": torch.__version__,
        "loadavg_1min": [load_before, os.getloadavg()[0]],
    }))
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    fixture = sub.add_parser("fixture", help="seeded steps, weights, gradients and losses for the C++ test")
    fixture.add_argument("out_dir")
    timing = sub.add_parser("time", help="seconds per step on random data")
    for sp, small in ((fixture, True), (timing, False)):
        a = sp.add_argument
        a("--steps", type=int, default=4 if small else 10)
        a("--size", type=int, default=32 if small else 256)
        a("--ngf", type=int, default=8 if small else 64)
        a("--ndf", type=int, default=8 if small else 64)
        a("--batch", type=int, default=1)
        a("--pool_size", type=int, default=2 if small else 50)
        a("--seed", type=int, default=3 if small else 0, help="weights and batches")
        a("--lambda_identity", type=float, default=0.5)
        a("--lambda_A", type=float, default=10.0)
        a("--lambda_B", type=float, default=10.0)
        a("--gan_mode", default="lsgan", choices=["lsgan", "vanilla"])
        a("--input_nc", type=int, default=3)
        a("--output_nc", type=int, default=3)
        a("--netG", default="resnet_9blocks")
        a("--netD", default="basic")
        a("--n_layers_D", type=int, default=3)
        a("--norm", default="instance", choices=["batch", "instance", "none"])
        a("--init_type", default="normal")
        a("--init_gain", type=float, default=0.02)
        a("--lr", type=float, default=2e-4)
        a("--beta1", type=float, default=0.5)
        # The reference's CycleGAN forces no_dropout; --dropout turns it back on.
        a("--dropout", dest="no_dropout", action="store_false")
    fixture.add_argument("--step_seed", type=int, default=11, help="seed before the steps (pool draws)")
    timing.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    timing.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (0 = torch's default)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.size < 1 or args.batch < 1 or args.pool_size < 0:
        p.error("--steps, --size and --batch must be >= 1, --pool_size >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    return run_fixture(args) if args.mode == "fixture" else run_time(args)


if __name__ == "__main__":
    sys.exit(main())
