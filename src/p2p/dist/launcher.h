// `p2p launch`: starts the ranks of a data-parallel job on this machine, the way torchrun does, and
// watches them. Each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT (env.h). A stop request (SIGINT/SIGTERM to the launcher) is passed on to every rank as
// SIGTERM, so they save and exit together; when one rank fails, the others are sent SIGTERM. Either way,
// a rank still there after the grace period is sent SIGKILL (which ends a frozen, SIGSTOPped one too).
// When the launcher itself is killed, the kernel sends each rank SIGTERM (PR_SET_PDEATHSIG), so no rank
// is left behind. Each rank has its own process group, so a terminal's Ctrl-C reaches the launcher
// alone, which passes it on once.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace p2p {

struct LaunchOptions {
  int nproc = 1;                  // ranks on this machine
  int nnodes = 1;                 // machines in the job
  int node_rank = 0;              // this machine's place: its ranks are node_rank * nproc + 0 .. nproc - 1
  std::string master_addr = "127.0.0.1";
  int master_port = 0;            // 0: a free port (one machine only)
  double grace_seconds = 30;      // after a rank fails or a stop is passed on: how long ranks get before SIGKILL
};

// Runs `program` with `args` (argv[1..]) as this machine's ranks and returns the job's exit status: 0
// when every rank succeeded, else the first failing rank's (128 + signal for a rank killed by one); a
// stopped job's is the stop's (stop_exit_status(), runtime.h).
// Throws p2p::Error naming the flag for impossible options.
int launch(const LaunchOptions& options, const std::string& program, const std::vector<std::string>& args,
           std::ostream& log);

}  // namespace p2p
