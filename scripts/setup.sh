#!/usr/bin/env bash
# Installs every dependency (Debian packages) and builds pix2pix.cpp into ./build.
#   bash scripts/setup.sh              # CPU machine: apt packages + Release build
#   P2P_SKIP_APT=1 bash scripts/setup.sh   # nothing installed (e.g. a GPU machine with PyTorch's libtorch)
# On a machine where Python's torch is installed with CUDA, its bundled LibTorch is used automatically.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git curl ca-certificates
  time                    # /usr/bin/time: peak memory in the fault suite and CPU time in bench/
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-pthread    # Debian's libtorch calls BLAS through the system alternative: 5-8x faster convs
  nlohmann-json3-dev libcli11-dev libstb-dev libgtest-dev zlib1g-dev
  libtiff-dev             # TIFF / GeoTIFF bands (uint8, uint16, int16, float32)
  libpng-dev              # PNG outputs written row by row (large images in bounded memory)
  libgdal-dev gdal-bin    # windowed raster I/O and GeoTIFF georeferencing for tiled translation (gdalinfo in tests)
  libcairo2-dev fonts-dejavu-core   # run-report plots (PNG) and their text
  libgloo-dev             # headers of c10d's Gloo process group (data-parallel training)
  chromium                # headless check of the HTML reports and the serving page in tests
  libcpp-httplib-dev      # p2p serve: the HTTP server (and the test client)
  wrk                     # bench/serve_load.sh and bench/http_libraries: loopback load
  python3 python3-torch python3-numpy python3-pil python3-skimage   # reference fixtures and comparisons
  python3-torchvision python3-tifffile                             # VGG and TIFF references in tests
  python3-crc32c python3-protobuf                                  # independent TensorBoard event reader in tests
  python3-gdal                                                     # GeoTIFF fixtures in tests
  python3-websocket                                                # drives headless Chromium (DevTools) in the page test
)

if [ "${P2P_SKIP_APT:-0}" != "1" ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
  # Make sure the BLAS alternative points at OpenBLAS (the package's default priority already does).
  if command -v update-alternatives >/dev/null; then
    blas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-pthread | head -n1 || true)
    if [ -n "$blas" ]; then $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas" >/dev/null; fi
  fi
fi

CMAKE_ARGS=(-S . -B build -DCMAKE_BUILD_TYPE=Release)
# A PyTorch with CUDA beside us (GPU machine): build against its LibTorch.
if [ -z "${P2P_TORCH_PREFIX:-}" ] && command -v python3 >/dev/null; then
  P2P_TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path if torch.cuda.is_available() else "")' 2>/dev/null || true)
fi
if [ -n "${P2P_TORCH_PREFIX:-}" ]; then CMAKE_ARGS+=("-DCMAKE_PREFIX_PATH=${P2P_TORCH_PREFIX}"); fi

cmake "${CMAKE_ARGS[@]}" ${P2P_CMAKE_ARGS:-}
cmake --build build -j"$(nproc)"
echo "built: $(pwd)/build/p2p"
