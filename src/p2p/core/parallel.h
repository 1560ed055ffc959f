// Included by every file that calls at::parallel_for instead of <ATen/Parallel.h>.
//
// Why: with LibTorch's OpenMP backend, at::parallel_for is a `#pragma omp parallel` compiled into the
// calling file; built without -fopenmp, the pragma is dropped and the whole range runs on the calling
// thread, silently. Such files are listed in CMakeLists.txt (P2P_OPENMP_SOURCES) and this stops the
// build of one that is not.
#pragma once

#include <ATen/Parallel.h>

#if AT_PARALLEL_OPENMP && !defined(_OPENMP)
#error "this file calls at::parallel_for: list it in P2P_OPENMP_SOURCES (CMakeLists.txt), or it runs on one thread"
#endif
