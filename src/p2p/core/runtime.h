// Process-wide runtime setup: compute device, thread counts, seeding and determinism.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace p2p {

// Parses a device spec: reference-style GPU ids ("-1" = CPU, "0", "0,1" -> first id) or
// "cpu" | "cuda" | "cuda:N". Asking for CUDA when none is available is an error naming `flag`.
c10::Device parse_device(const std::string& spec, const std::string& flag = "--device");

// Sets intra-op threads (0 = all cores). LibTorch on 2 cores may come up with 1 thread otherwise.
void configure_threads(int threads);

// Seeds LibTorch's CPU (and CUDA) generators; `deterministic` also asks for deterministic kernels.
void seed_everything(uint64_t seed, bool deterministic);

// Seeds the generators for one item of a batch job (the paper's test mode draws dropout masks) from
// the job's seed and the item's name, so what an item gets does not depend on its place in the batch:
// a file translated alone, inside a folder, or again after --resume gives the same pixels.
void seed_item(uint64_t seed, const std::string& name);

}  // namespace p2p

namespace p2p {

// SIGINT/SIGTERM set a flag instead of killing the process, so training can finish the current step,
// write a checkpoint and exit; a second signal kills as usual.
void install_stop_handlers();
bool stop_requested();
void request_stop();  // same as receiving SIGINT (tests of the stop path)
void clear_stop_request();
// The documented exit status of a stopped command: 128 + the signal that asked for the stop (SIGINT 130,
// SIGTERM 143), the status the shell reports for a process the signal killed outright, so a stop ends
// with the same status whether it came before the handlers were installed or after.
int stop_exit_status();

// While one lives, a stop signal ends the process at once, by that signal (status 128 + signal): for
// waits with nothing to save that could outlast the user's patience (the rendezvous of a data-parallel
// job). A stop that arrived earlier ends the process when the scope opens.
class StopEndsProcess {
 public:
  StopEndsProcess();
  ~StopEndsProcess();
  StopEndsProcess(const StopEndsProcess&) = delete;
  StopEndsProcess& operator=(const StopEndsProcess&) = delete;
};

// Keeps memory the process frees for reuse instead of handing it back to the OS (glibc's malloc: no
// separately mapped allocations, no trimming of the heap). A training step frees and reallocates
// hundreds of MB (gradients, bf16 casts, activations), and every page the OS hands out again costs a
// page fault: on the measured AMD EPYC VM that was close to half of a unet_128 step at 128 px
// (BENCHMARKS.md). The price is a resident size that stays at its peak. P2P_MALLOC=system in the
// environment leaves glibc's defaults. Returns whether it applied. `p2p` calls it first thing.
bool keep_freed_memory();

// Tells OpenBLAS (when it is the BLAS in use) how many threads to use; a no-op otherwise.
void set_blas_threads(int threads);

}  // namespace p2p
