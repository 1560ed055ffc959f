#!/usr/bin/env bash
# Runs a command as on a CPU without AVX-512 (an AVX2-only AMD EPYC or an older Xeon), on a machine
# that has it: every layer is capped at AVX2 with FMA, and the measured choices (BLAS threads, the
# U-Net's convolution paths, auto precision) go to a cache of their own, apart from the real machine's.
#   bash bench/avx2_machine.sh bash bench/compare.sh 128 6
#   bash bench/avx2_machine.sh bash scripts/demo.sh
# It is the instruction set only: the cores, caches and memory stay this machine's.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bash bench/avx2_machine.sh CMD [ARGS...]" >&2; exit 2; }
export P2P_CPU_ISA=avx2              # the project's own kernels, and no native bf16 (core/cpu_features.h)
export ATEN_CPU_CAPABILITY=avx2      # LibTorch's vectorised kernels
export ONEDNN_MAX_CPU_ISA=AVX2       # oneDNN's convolutions and matrix products (its older name below)
export DNNL_MAX_CPU_ISA=AVX2
export OPENBLAS_CORETYPE=Haswell     # OpenBLAS's kernels (Debian builds it for every core type)
export XDG_CACHE_HOME="${P2P_AVX2_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pix2pix-avx2-machine}"
exec "$@"
