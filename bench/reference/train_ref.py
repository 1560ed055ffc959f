"""Reference pix2pix training loop in PyTorch (the baseline pix2pix.cpp is compared against).

Follows the reference implementation's training semantics: G(A) once per step, a D step on
0.5 * (fake + real), then a G step with D frozen on GAN + lambda_L1 * L1; Adam(2e-4, 0.5, 0.999);
constant lr for n_epochs then linear decay over n_epochs_decay. The scheduler steps at the END of an
epoch (the reference steps at the start, so its decay begins one epoch early and its last epoch
trains at lr 0; we do not copy that).

Writes <checkpoints_dir>/<name>/history.jsonl (one JSON object per epoch), latest_net_G.pth and
latest_net_D.pth (torch.save of state_dict(), the reference checkpoint format).
Run with a Python that has PyTorch, numpy, PIL and scikit-image.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import networks  # noqa: E402

WARMUP_STEPS = 3  # first steps of a run pay for allocator and BLAS warm-up; not timed


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="pix2pix reference training (PyTorch)")
    a = p.add_argument
    a("--dataroot", required=True, help="folder with train/ (and optionally val/)")
    a("--name", default="experiment")
    a("--checkpoints_dir", default="./checkpoints")
    a("--phase", default="train")
    a("--direction", default="AtoB", choices=["AtoB", "BtoA"])
    a("--dataset_mode", default="auto", choices=["auto", "aligned", "folders"])
    a("--pair_replace", default="", help="folders mode: FROM:TO maps an A stem to its B stem")
    a("--folder_names", default="A:B", help="folders mode: names of the A and B subfolders")
    a("--netG", default="unet_256")
    a("--netD", default="basic")
    a("--n_layers_D", type=int, default=3)
    a("--ngf", type=int, default=64)
    a("--ndf", type=int, default=64)
    a("--norm", default="batch", choices=["batch", "instance", "none"])
    a("--init_type", default="normal")
    a("--init_gain", type=float, default=0.02)
    a("--no_dropout", action="store_true")
    a("--input_nc", type=int, default=3)
    a("--output_nc", type=int, default=3)
    a("--gan_mode", default="vanilla", choices=["vanilla", "lsgan"])
    a("--lambda_L1", type=float, default=100.0)
    a("--lr", type=float, default=2e-4)
    a("--beta1", type=float, default=0.5)
    a("--batch_size", type=int, default=1)
    a("--load_size", type=int, default=286)
    a("--crop_size", type=int, default=256)
    a("--preprocess", default="resize_and_crop", choices=list(data.PREPROCESS_MODES))
    a("--no_flip", action="store_true")
    a("--serial_batches", action="store_true", help="take pairs in order instead of shuffling")
    a("--n_epochs", type=int, default=100)
    a("--n_epochs_decay", type=int, default=100)
    a("--num_threads", type=int, default=4, help="data loader worker processes")
    a("--torch_threads", type=int, default=0, help="torch.set_num_threads (0 = leave torch's default)")
    a("--seed", type=int, default=0)
    a("--val_fraction", type=float, default=0.1)
    a("--max_dataset_size", type=int, default=0, help="0 = no limit")
    a("--max_iters", type=int, default=0, help="stop after this many training steps (0 = no limit)")
    a("--eval", action="store_true", help="validate with running BN statistics and no dropout")
    a("--print_freq", type=int, default=100)
    args = p.parse_args(argv)
    for flag in ("batch_size", "n_epochs", "ngf", "ndf", "input_nc", "output_nc"):
        if getattr(args, flag) < 1 and not (flag == "n_epochs" and args.n_epochs_decay > 0):
            p.error(f"--{flag}: expected a positive integer, got {getattr(args, flag)}")
    return args


class GANLoss(nn.Module):
    """vanilla: BCE on logits (D has no sigmoid); lsgan: MSE to 1/0. Targets match the logit shape."""

    def __init__(self, gan_mode):
        super().__init__()
        self.loss = nn.BCEWithLogitsLoss() if gan_mode == "vanilla" else nn.MSELoss()

    def forward(self, logits, target_is_real):
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return self.loss(logits, target)


def lr_factor(epoch, n_epochs, n_epochs_decay):
    """Multiplier for 1-based `epoch`: 1 for the first n_epochs, then falling linearly; the last
    decay epoch still trains at lr / (n_epochs_decay + 1) rather than 0."""
    return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay + 1)


class Pix2Pix:
    """G, D, their optimisers and one training step in the reference order."""

    def __init__(self, args):
        self.args = args
        self.netG = networks.define_G(args.input_nc, args.output_nc, args.ngf, args.netG, args.norm,
                                      not args.no_dropout, args.init_type, args.init_gain)
        # D is conditional: it judges B given A, hence input_nc + output_nc channels.
        self.netD = networks.define_D(args.input_nc + args.output_nc, args.ndf, args.netD, args.n_layers_D,
                                      args.norm, args.init_type, args.init_gain)
        self.gan = GANLoss(args.gan_mode)
        self.l1 = nn.L1Loss()
        betas = (args.beta1, 0.999)
        self.opt_G = torch.optim.Adam(self.netG.parameters(), lr=args.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.netD.parameters(), lr=args.lr, betas=betas)

    def set_lr(self, lr):
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr

    @staticmethod
    def _set_requires_grad(net, flag):
        for p in net.parameters():
            p.requires_grad_(flag)

    def step(self, real_A, real_B):
        """One optimisation step; returns the five losses as floats."""
        fake_B = self.netG(real_A)

        # D step. The fake is detached: this step must not push gradients into G.
        self._set_requires_grad(self.netD, True)
        self.opt_D.zero_grad()
        loss_D_fake = self.gan(self.netD(torch.cat([real_A, fake_B.detach()], 1)), False)
        loss_D_real = self.gan(self.netD(torch.cat([real_A, real_B], 1)), True)
        loss_D = 0.5 * (loss_D_fake + loss_D_real)
        loss_D.backward()
        self.opt_D.step()

        # G step. D is frozen so its weights get no gradient from G's objective.
        self._set_requires_grad(self.netD, False)
        self.opt_G.zero_grad()
        loss_G_GAN = self.gan(self.netD(torch.cat([real_A, fake_B], 1)), True)
        loss_G_L1 = self.l1(fake_B, real_B) * self.args.lambda_L1
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        self.opt_G.step()
        return {"loss_G": loss_G.item(), "loss_G_GAN": loss_G_GAN.item(), "loss_G_L1": loss_G_L1.item(),
                "loss_D_real": loss_D_real.item(), "loss_D_fake": loss_D_fake.item()}


def _ssim(pred, target):
    from skimage.metrics import structural_similarity
    return float(structural_similarity(pred, target, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=1.0, channel_axis=0))


def validate(netG, loader, use_eval):
    """Mean per-image L1 (network range), MAE / PSNR / SSIM (on [0,1]) over the val pairs.

    Default is pix2pix test mode: dropout on and BatchNorm on the test batch's statistics. In that
    mode BN would still fold val data into its running averages, so those buffers are restored.
    """
    saved = {k: v.clone() for k, v in netG.state_dict().items() if "running_" in k or "num_batches" in k}
    netG.train(not use_eval)
    sums = {"l1": 0.0, "mae": 0.0, "psnr": 0.0, "ssim": 0.0}
    count = 0
    with torch.no_grad():
        for real_A, real_B, _ in loader:
            fake_B = netG(real_A)
            for f, r in zip(fake_B, real_B):
                sums["l1"] += (f - r).abs().mean().item()
                p = ((f.clamp(-1, 1) + 1) / 2).numpy().astype(np.float64)
                t = ((r + 1) / 2).numpy().astype(np.float64)
                sums["mae"] += float(np.abs(p - t).mean())
                mse = float(((p - t) ** 2).mean())
                sums["psnr"] += 100.0 if mse <= 1e-10 else min(100.0, 10.0 * math.log10(1.0 / mse))
                sums["ssim"] += _ssim(p, t)
                count += 1
    netG.train()
    netG.load_state_dict(saved, strict=False)
    if count == 0:
        return {}
    return {"val_" + k: v / count for k, v in sums.items()}


def main(argv=None):
    args = parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    model = Pix2Pix(args)
    size_multiple = getattr(model.netG, "size_multiple", 1)
    if args.folder_names.count(":") != 1:
        sys.exit(f"error: --folder_names: expected A_NAME:B_NAME, got '{args.folder_names}'")
    find_kwargs = {"dataset_mode": args.dataset_mode, "pair_replace": args.pair_replace,
                   "folder_names": tuple(args.folder_names.split(":")),
                   "max_dataset_size": args.max_dataset_size or None}
    try:
        train_pairs, val_pairs = data.train_val_split(args.dataroot, args.phase, args.val_fraction, **find_kwargs)
    except data.DataError as e:
        sys.exit(f"error: {e}")
    common = dict(direction=args.direction, input_nc=args.input_nc, output_nc=args.output_nc,
                  preprocess=args.preprocess, load_size=args.load_size, crop_size=args.crop_size,
                  no_flip=args.no_flip, seed=args.seed, size_multiple=size_multiple)
    train_set = data.PairedDataset(train_pairs, augment=True, **common)
    val_set = data.PairedDataset(val_pairs, augment=False, **common)
    train_loader = data.make_loader(train_set, args.batch_size, not args.serial_batches, args.num_threads, args.seed)
    val_loader = data.make_loader(val_set, 1, False, 0, args.seed)

    run_dir = os.path.join(args.checkpoints_dir, args.name)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "train_opt.json"), "w") as f:
        json.dump(vars(args) | {"torch_version": torch.__version__, "torch_num_threads": torch.get_num_threads()},
                  f, indent=1)
    history_path = os.path.join(run_dir, "history.jsonl")
    print(f"train pairs {len(train_set)}, val pairs {len(val_set)}, G params "
          f"{networks.count_parameters(model.netG):,}, D params {networks.count_parameters(model.netD):,}, "
          f"torch threads {torch.get_num_threads()}", flush=True)

    total_steps = 0
    stop = False
    for epoch in range(1, args.n_epochs + args.n_epochs_decay + 1):
        lr = args.lr * lr_factor(epoch, args.n_epochs, args.n_epochs_decay)
        model.set_lr(lr)
        model.netG.train()
        model.netD.train()
        train_set.set_epoch(epoch)
        sums = {}
        steps = 0
        step_times, iter_times = [], []
        epoch_start = time.perf_counter()
        iter_start = time.perf_counter()
        for real_A, real_B, _ in train_loader:
            step_start = time.perf_counter()
            losses = model.step(real_A, real_B)
            now = time.perf_counter()
            if total_steps >= WARMUP_STEPS:
                step_times.append(now - step_start)   # compute only
                iter_times.append(now - iter_start)   # including the wait for data
            iter_start = now
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            total_steps += 1
            if args.print_freq and total_steps % args.print_freq == 0:
                print(f"epoch {epoch} step {total_steps} " +
                      " ".join(f"{k} {v:.4f}" for k, v in losses.items()), flush=True)
            if args.max_iters and total_steps >= args.max_iters:
                stop = True
                break
        record = {"epoch": epoch, "lr": lr, "steps": steps}
        record.update({k: v / max(steps, 1) for k, v in sums.items()})
        record["sec_per_step"] = float(np.mean(step_times)) if step_times else None
        record["sec_per_iter"] = float(np.mean(iter_times)) if iter_times else None
        record["train_seconds"] = time.perf_counter() - epoch_start
        val_start = time.perf_counter()
        record.update(validate(model.netG, val_loader, args.eval))
        record["val_seconds"] = time.perf_counter() - val_start
        print(json.dumps(record), flush=True)
        with open(history_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        torch.save(model.netG.state_dict(), os.path.join(run_dir, "latest_net_G.pth"))
        torch.save(model.netD.state_dict(), os.path.join(run_dir, "latest_net_D.pth"))
        if stop:
            break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (networks.ConfigError, data.DataError) as e:
        sys.exit(f"error: {e}")
