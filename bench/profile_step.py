"""Sums a `p2p bench --profile` Chrome trace by kind of work, per timed step.

    ./build/p2p bench --netG unet_128 --crop_size 128 --steps 5 --profile trace.json
    python3 bench/profile_step.py trace.json --steps 5

Each op's self time (its duration less the ops it called) goes to one kind: convolutions (oneDNN
passes, forward and backward), the optimizer (p2p::adam), batch norm, activations, concatenation,
losses, other element-wise arithmetic, memory (allocation, zeroing, copies, layout changes) and the
autograd engine's own bookkeeping (gradient accumulation). The phases of a step (p2p::G_forward,
p2p::D_step, p2p::G_step) are totalled too. Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import collections
import json
import sys

KINDS = [
    ("convolution", ("convolution", "conv2d", "conv_transpose", "mkldnn_reorder", "UpConvFunction", "DownConvFunction",
                     "thin_gemm", "mm", "addmm", "im2col", "col2im")),
    ("optimizer", ("p2p::adam", "adam")),
    ("batch norm", ("batch_norm", "native_batch_norm")),
    ("activations", ("relu", "leaky", "tanh", "sigmoid", "threshold", "dropout", "bernoulli", "gelu", "elu")),
    ("concatenation", ("cat", "split", "narrow", "slice")),
    ("losses", ("l1_loss", "mse_loss", "binary_cross_entropy", "smooth_l1", "abs", "mean", "sum")),
    ("memory", ("empty", "zero", "fill", "copy", "clone", "contiguous", "to", "resize", "as_strided", "view",
                "reshape", "expand", "permute", "transpose", "detach", "set_", "ones", "zeros", "_reshape_alias",
                "t", "select", "unsqueeze", "squeeze", "stride")),
    ("element-wise", ("add", "mul", "sub", "div", "neg", "sqrt", "pow", "rsub", "exp", "log", "clamp", "where")),
    ("autograd engine", ("AccumulateGrad", "autograd::engine", "Backward", "torch::autograd")),
]


PHASES = ("p2p::G_forward", "p2p::D_step", "p2p::G_step")


def kind_of(name):
    base = name.split("::")[-1].strip("_") if name.startswith("aten::") else name
    for kind, keys in KINDS:
        for k in keys:
            if name.startswith("aten::") and (base == k or base.startswith(k + "_") or base.startswith(k)
                                              and k in ("convolution", "batch_norm", "leaky", "threshold",
                                                        "binary_cross_entropy", "mkldnn_reorder")
                                              or k in ("convolution", "batch_norm") and k in base):
                return kind
            if not name.startswith("aten::") and k in name:
                return kind
    return "other"


def self_times(events):
    """Self time of each complete event, by nesting on its thread."""
    by_tid = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X":
            by_tid[e["tid"]].append(e)
    out = []
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, child time]
        for e in evs:
            while stack and e["ts"] >= stack[-1][0]["ts"] + stack[-1][0]["dur"] - 1e-3:
                done = stack.pop()
                out.append((done[0], done[0]["dur"] - done[1]))
            if stack:
                stack[-1][1] += e["dur"]
            stack.append([e, 0.0])
        while stack:
            done = stack.pop()
            out.append((done[0], done[0]["dur"] - done[1]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("--steps", type=int, default=1, help="timed steps in the trace (numbers are per step)")
    p.add_argument("--top", type=int, default=12, help="also list this many ops by self time")
    a = p.parse_args(argv)
    with open(a.trace) as f:
        events = json.load(f)
    if not isinstance(events, list) or not events:
        sys.exit("profile_step: %s: expected a non-empty Chrome trace (a JSON list of events)" % a.trace)
    kinds = collections.Counter()
    ops = collections.Counter()
    phases = collections.Counter()
    wall = 0.0
    is_phase = lambda name: name in PHASES
    for e, t in self_times(events):
        name = e["name"]
        if is_phase(name):
            phases[name] += e["dur"]
            kinds["between ops (autograd engine, our code)"] += t
        else:
            kinds[kind_of(name)] += t
        ops[name] += t
    for e in events:
        if e.get("ph") == "X" and is_phase(e["name"]):
            wall += e["dur"]
    total = sum(kinds.values())
    per = 1e-3 / max(a.steps, 1)  # trace times are microseconds
    print("| kind of work | ms per step | share |")
    print("|---|---|---|")
    for k, t in kinds.most_common():
        print("| %s | %.1f | %.0f %% |" % (k, t * per, 100 * t / total))
    print("| all ops | %.1f | |" % (total * per))
    print("| phases (G forward + D step + G step) | %.1f | |" % (wall * per))
    print()
    print("| phase | ms per step |")
    print("|---|---|")
    for k, t in sorted(phases.items()):
        print("| %s | %.1f |" % (k, t * per))
    print()
    print("| op | ms per step (self) |")
    print("|---|---|")
    for k, t in ops.most_common(a.top):
        print("| %s | %.1f |" % (k, t * per))


if __name__ == "__main__":
    main()
