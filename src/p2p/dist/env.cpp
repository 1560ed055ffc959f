// Data-parallel placement from environment variables (see env.h).
#include "p2p/dist/env.h"

#include "p2p/core/error.h"

#include <cstdlib>

namespace p2p {

namespace {

int int_var(const std::function<const char*(const char*)>& lookup, const char* name, int fallback, bool required,
            int lo, int hi) {
  const char* v = lookup(name);
  if (!v || !*v) {
    if (required) fail(std::string(name) + " is not set (a distributed run needs RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
    return fallback;
  }
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) {
    fail(std::string(name) + "=" + v + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int>(x);
}

}  // namespace

DistEnv dist_env(const std::function<const char*(const char*)>& lookup) {
  DistEnv e;
  e.world_size = int_var(lookup, "WORLD_SIZE", 1, false, 1, 1 << 20);
  if (!e.distributed()) return e;
  e.rank = int_var(lookup, "RANK", 0, true, 0, e.world_size - 1);
  e.local_rank = int_var(lookup, "LOCAL_RANK", e.rank, false, 0, e.world_size - 1);
  e.local_world_size = int_var(lookup, "LOCAL_WORLD_SIZE", e.world_size, false, 1, e.world_size);
  if (const char* addr = lookup("MASTER_ADDR"); addr && *addr) e.master_addr = addr;
  e.master_port = int_var(lookup, "MASTER_PORT", 29500, false, 1, 65535);
  return e;
}

DistEnv dist_env() {
  return dist_env([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

}  // namespace p2p
