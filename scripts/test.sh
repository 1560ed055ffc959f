#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite with CTest. Pass CTest arguments through, e.g.
#   bash scripts/test.sh -L unit      # unit tests only
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900 "$@"
