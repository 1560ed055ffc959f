"""pix2pix generators and discriminators in PyTorch, for side-by-side comparison with pix2pix.cpp.

Written from the architecture description in ../shared/REFERENCE.md, not copied from the reference
implementation. What is copied on purpose is the module *nesting and attribute names*: a
state_dict() of these modules has exactly the keys of a reference checkpoint
(model.model.1.model.2.weight ...), so reference .pth files load here and our files load there.

Assumes PyTorch >= 1.8 (nn.Identity). Run `python3 networks.py --selfcheck` to verify parameter
counts against the published numbers.
"""

import argparse
import functools
import sys

import torch
from torch import nn
from torch.nn import init


class ConfigError(ValueError):
    """A bad architecture option; the message names the flag and what was expected."""


# ----------------------------------------------------------------------------------------------
# Normalisation


def norm_factory(norm):
    """Returns (make_norm(channels) -> module, use_bias).

    Convolutions followed by batch norm carry no bias (the norm's shift makes it redundant).
    Instance norm here has no affine shift, and 'none' has no norm at all, so those keep their bias;
    the reference gives 'none' no bias either, which we do not copy (documented in README.md).
    """
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True), False
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False), True
    if norm == "none":
        # An Identity still occupies its Sequential slot, so key indices do not depend on --norm.
        return (lambda channels: nn.Identity()), True
    raise ConfigError(f"--norm: expected batch, instance or none, got '{norm}'")


# ----------------------------------------------------------------------------------------------
# U-Net and its skip-less encoder-decoder twin


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down-sample, run the inner levels (`submodule`), up-sample.

    The whole level lives in one nn.Sequential named `model`, so the inner level is a child of it
    and the keys nest as model.model.<i>.model.<j>... Layout of `model` by level kind:
      outermost: 0 conv, 1 submodule, 2 ReLU, 3 convT(+bias), 4 Tanh
      innermost: 0 LReLU, 1 conv, 2 ReLU, 3 convT, 4 norm
      middle:    0 LReLU, 1 conv, 2 norm, 3 submodule, 4 ReLU, 5 convT, 6 norm, [7 Dropout]
    With skips=False (encoder-decoder) nothing is concatenated, so each transposed conv reads
    inner_nc channels instead of 2 * inner_nc; the layout is otherwise identical.
    """

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, norm="batch", use_dropout=False, skips=True):
        super().__init__()
        self.outermost = outermost
        self.skips = skips
        make_norm, use_bias = norm_factory(norm)
        if input_nc is None:
            input_nc = outer_nc
        # Innermost output is not concatenated with anything below it.
        up_in = inner_nc if (innermost or not skips) else inner_nc * 2

        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        down_act = nn.LeakyReLU(0.2, True)
        up_act = nn.ReLU(True)

        if outermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, submodule, up_act, up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1,
                                         bias=use_bias)
            layers = [down_act, down_conv, up_act, up_conv, make_norm(outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1,
                                         bias=use_bias)
            layers = [down_act, down_conv, make_norm(inner_nc), submodule, up_act, up_conv,
                      make_norm(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        if self.outermost or not self.skips:
            return y
        # The skip: the decoder sees the encoder features of the same resolution.
        return torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` halvings (8 for 256x256 inputs down to 1x1).

    Built from the innermost level outwards: innermost (8*ngf), num_downs - 5 more 8*ngf levels
    (with dropout), then 4*ngf, 2*ngf, ngf levels and the outermost level.
    """

    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False,
                 skips=True):
        super().__init__()
        if num_downs < 5:
            raise ConfigError(f"--netG: a U-Net needs at least 5 down-samplings (unet_32), got {num_downs}")
        block = functools.partial(UnetSkipConnectionBlock, norm=norm, skips=skips)
        level = block(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            level = block(ngf * 8, ngf * 8, submodule=level, use_dropout=use_dropout)
        level = block(ngf * 4, ngf * 8, submodule=level)
        level = block(ngf * 2, ngf * 4, submodule=level)
        level = block(ngf, ngf * 2, submodule=level)
        self.model = block(output_nc, ngf, input_nc=input_nc, submodule=level, outermost=True)
        self.size_multiple = 2 ** num_downs

    def forward(self, x):
        return self.model(x)


# ----------------------------------------------------------------------------------------------
# ResNet generator


class ResnetBlock(nn.Module):
    """x + conv_block(x); reflection padding keeps borders free of zero-padding artefacts."""

    def __init__(self, dim, make_norm, use_dropout, use_bias):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                  make_norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                   make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7x7 stem, two stride-2 downs, n_blocks residual blocks at 4*ngf, two ups, 7x7 head + Tanh."""

    def __init__(self, input_nc, output_nc, ngf=64, norm="batch", use_dropout=False, n_blocks=9):
        super().__init__()
        make_norm, use_bias = norm_factory(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                  make_norm(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                       make_norm(c * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * 4, make_norm, use_dropout, use_bias))
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, kernel_size=3, stride=2, padding=1, output_padding=1,
                                          bias=use_bias),
                       make_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.size_multiple = 4

    def forward(self, x):
        return self.model(x)


# ----------------------------------------------------------------------------------------------
# Discriminators (logits out; the loss applies the sigmoid)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: n_layers stride-2 convs, one stride-1 conv, a 1-channel stride-1 conv.

    Width multiplier min(2^n, 8). n_layers 3 is the 70x70 'basic' discriminator.
    """

    def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"--n_layers_D: expected >= 1, got {n_layers}")
        make_norm, use_bias = norm_factory(norm)
        layers = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=use_bias),
                       make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges each pixel's colour given its input alone (no spatial context)."""

    def __init__(self, input_nc, ndf=64, norm="batch"):
        super().__init__()
        make_norm, use_bias = norm_factory(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            make_norm(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias))

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------------------------------------
# Initialisation and factories


def init_weights(net, init_type="normal", init_gain=0.02):
    """Conv/Linear weights by init_type, their biases 0; BatchNorm weight N(1, gain), bias 0.

    Uses torch's global generator, so callers seed it (torch.manual_seed) for reproducible weights.
    """
    def init_one(m):
        name = type(m).__name__
        if (name.startswith("Conv") or name == "Linear") and getattr(m, "weight", None) is not None:
            if init_type == "normal":
                init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                init.orthogonal_(m.weight, gain=init_gain)
            else:
                raise ConfigError(f"--init_type: expected normal, xavier, kaiming or orthogonal, got '{init_type}'")
            if m.bias is not None:
                init.constant_(m.bias, 0.0)
        elif name == "BatchNorm2d":
            init.normal_(m.weight, 1.0, init_gain)
            init.constant_(m.bias, 0.0)

    net.apply(init_one)
    return net


def _size_suffix(netG, prefix):
    text = netG[len(prefix):]
    if not text.isdigit():
        raise ConfigError(f"--netG: expected {prefix}<size> such as {prefix}256, got '{netG}'")
    size = int(text)
    if size < 32 or size & (size - 1):
        raise ConfigError(f"--netG: {prefix}<size> needs a power of two >= 32, got '{netG}'")
    return size.bit_length() - 1


def define_G(input_nc, output_nc, ngf, netG, norm="batch", use_dropout=True, init_type="normal",
             init_gain=0.02):
    """unet_<N> | encoder_decoder_<N> | resnet_9blocks | resnet_6blocks, initialised."""
    if netG.startswith("unet_"):
        net = UnetGenerator(input_nc, output_nc, _size_suffix(netG, "unet_"), ngf, norm, use_dropout)
    elif netG.startswith("encoder_decoder_"):
        net = UnetGenerator(input_nc, output_nc, _size_suffix(netG, "encoder_decoder_"), ngf, norm,
                            use_dropout, skips=False)
    elif netG == "resnet_9blocks":
        net = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=9)
    elif netG == "resnet_6blocks":
        net = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=6)
    else:
        raise ConfigError(f"--netG: expected unet_<N>, encoder_decoder_<N>, resnet_9blocks or "
                          f"resnet_6blocks, got '{netG}'")
    return init_weights(net, init_type, init_gain)


def define_D(input_nc, ndf, netD, n_layers_D=3, norm="batch", init_type="normal", init_gain=0.02):
    """basic (= n_layers 3) | n_layers | pixel, initialised. input_nc counts cat(A, B) channels."""
    if netD == "basic":
        net = NLayerDiscriminator(input_nc, ndf, 3, norm)
    elif netD == "n_layers":
        net = NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)
    elif netD == "pixel":
        net = PixelDiscriminator(input_nc, ndf, norm)
    else:
        raise ConfigError(f"--netD: expected basic, n_layers or pixel, got '{netD}'")
    return init_weights(net, init_type, init_gain)


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())


# ----------------------------------------------------------------------------------------------
# Self-check


def _selfcheck():
    """Known answers from ../shared/REFERENCE.md; returns the number of failures."""
    checks = [
        ("unet_256 3->3 ngf 64", lambda: define_G(3, 3, 64, "unet_256"), 54_413_955),
        ("unet_128 3->3 ngf 64", lambda: define_G(3, 3, 64, "unet_128"), 41_828_995),
        ("basic D 6ch ndf 64", lambda: define_D(6, 64, "basic"), 2_768_705),
        ("n_layers 1 D 6ch", lambda: define_D(6, 64, "n_layers", 1), 139_585),
        ("n_layers 5 D 6ch", lambda: define_D(6, 64, "n_layers", 5), 11_159_361),
    ]
    failures = 0
    for label, build, expected in checks:
        got = count_parameters(build())
        ok = got == expected
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {got:,} (expected {expected:,})")

    # Key layout a reference checkpoint uses.
    keys = set(define_G(3, 3, 64, "unet_256").state_dict())
    for key in ["model.model.0.weight", "model.model.1.model.1.weight", "model.model.1.model.2.running_var",
                "model.model.1.model.3.model.5.weight", "model.model.3.weight", "model.model.3.bias"]:
        ok = key in keys
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} key {key}")
    # outermost -> index 1 -> six middle levels each holding the next at index 3 -> innermost.
    inner = "model.model.1" + ".model.3" * 6 + ".model."
    for j in (1, 3):
        key = f"{inner}{j}.weight"
        ok = key in keys
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} innermost key {key}")
    d_keys = set(define_D(6, 64, "basic").state_dict())
    ok = "model.11.weight" in d_keys and "model.3.running_mean" in d_keys
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} D keys model.11.weight, model.3.running_mean")

    # Output shapes: 256 -> 256 image, 30x30 logits.
    with torch.no_grad():
        g = define_G(3, 3, 8, "unet_256")
        y = g(torch.zeros(1, 3, 256, 256))
        d = define_D(6, 8, "basic")
        logits = d(torch.zeros(1, 6, 256, 256))
        r = define_G(3, 3, 8, "resnet_6blocks")(torch.zeros(1, 3, 64, 64))
        e = define_G(3, 3, 8, "encoder_decoder_64")(torch.zeros(1, 3, 64, 64))
    for label, shape, expected in [("unet_256 out", y.shape, (1, 3, 256, 256)),
                                   ("basic D logits", logits.shape, (1, 1, 30, 30)),
                                   ("resnet_6blocks out", r.shape, (1, 3, 64, 64)),
                                   ("encoder_decoder_64 out", e.shape, (1, 3, 64, 64))]:
        ok = tuple(shape) == expected
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label} shape {tuple(shape)}")
    print("selfcheck:", "passed" if failures == 0 else f"{failures} failed")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selfcheck", action="store_true", help="verify parameter counts, keys and shapes")
    args = parser.parse_args()
    if not args.selfcheck:
        parser.print_help()
        sys.exit(2)
    sys.exit(1 if _selfcheck() else 0)
