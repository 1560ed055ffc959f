// Where this process sits in a data-parallel job, read the way torchrun, Slurm wrappers and plain shell
// loops pass it: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Without WORLD_SIZE (or with 1)
// the process trains alone. Without LOCAL_RANK / LOCAL_WORLD_SIZE the job is taken to run on one
// machine (local = global).
#pragma once

#include <functional>
#include <string>

namespace p2p {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;  // ranks on this machine, who share its cores (LOCAL_WORLD_SIZE)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool distributed() const { return world_size > 1; }
};

// From the process environment; `lookup` stands in for getenv in tests. Throws p2p::Error naming the
// variable and what it holds when a value is not a number, out of range (RANK outside
// 0..WORLD_SIZE-1, a port outside 1..65535) or missing where WORLD_SIZE > 1 needs it (RANK).
DistEnv dist_env(const std::function<const char*(const char*)>& lookup);
DistEnv dist_env();

}  // namespace p2p
