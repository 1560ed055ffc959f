// Local launcher for data-parallel jobs (see launcher.h).
#include "p2p/dist/launcher.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace p2p {

namespace {

// A port nobody listens on now (the kernel picks it); rank 0 binds it moments later.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail(std::string("launch: cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) fail("launch: cannot find a free port; give --master_port");
  return ntohs(addr.sin_port);
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

int launch(const LaunchOptions& o, const std::string& program, const std::vector<std::string>& args, std::ostream& log) {
  if (o.nproc < 1) fail("--nproc: must be >= 1");
  if (o.nnodes < 1) fail("--nnodes: must be >= 1");
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    fail("--node_rank " + std::to_string(o.node_rank) + ": must be in 0.." + std::to_string(o.nnodes - 1) +
         " (--nnodes " + std::to_string(o.nnodes) + ")");
  }
  if (o.master_port == 0 && o.nnodes > 1) {
    fail("--master_port: give the port rank 0's machine listens on (every machine of the job must use the same)");
  }
  if (args.empty()) fail("launch: give the command for each rank after --, e.g. p2p launch --nproc 2 -- train ...");
  const int port = o.master_port > 0 ? o.master_port : free_port();
  const int world = o.nproc * o.nnodes;
  install_stop_handlers();
  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids;
  for (int local = 0; local < o.nproc; ++local) {
    const int rank = o.node_rank * o.nproc + local;
    const pid_t pid = ::fork();
    if (pid < 0) fail("launch: cannot start rank " + std::to_string(rank) + ": " + std::strerror(errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher gone (even by SIGKILL): this rank stops too
      if (::getppid() != launcher) std::_Exit(128 + SIGTERM);
      ::setpgid(0, 0);  // its own group: a terminal's Ctrl-C reaches the launcher, which passes it on once
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<std::string> argv_s = {program};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(program.c_str(), argv.data());
      std::_Exit(127);
    }
    ::setpgid(pid, pid);  // as the child does, whichever runs first
    pids.push_back(pid);
  }
  log << "launch: " << o.nproc << " rank(s) on this machine (ranks " << o.node_rank * o.nproc << ".."
      << o.node_rank * o.nproc + o.nproc - 1 << " of " << world << "), master " << o.master_addr << ":" << port << "\n"
      << std::flush;

  std::vector<bool> done(pids.size(), false);
  size_t running = pids.size();
  int result = 0;
  bool forwarded = false, failing = false;
  // Armed on every way towards the end (a stop passed on, a rank failed): a rank still there after
  // --grace seconds is killed, a stopped (SIGSTOP) or hung one included, so the launcher always ends.
  auto deadline = std::chrono::steady_clock::time_point::max();
  const char* why = "";
  bool armed = false;
  auto arm = [&](const char* reason) {
    if (armed) return;
    armed = true;
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace_seconds * 1000));
    why = reason;
  };
  auto signal_all = [&](int sig) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (!done[i]) ::kill(pids[i], sig);
    }
  };
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] != pid) continue;
        done[i] = true;
        --running;
        const int code = exit_code(status);
        const int rank = o.node_rank * o.nproc + static_cast<int>(i);
        if (code != 0 && result == 0) {
          result = code;
          if (running > 0 && !forwarded) {
            log << "launch: rank " << rank << " exited with status " << code << "; stopping the other ranks\n"
                << std::flush;
            failing = true;
            signal_all(SIGTERM);
          }
          if (running > 0) arm("the failure");
        }
      }
      continue;
    }
    if (stop_requested() && !forwarded) {
      if (!failing) signal_all(SIGTERM);  // each rank saves at its next step and exits; the ranks agree on the step
      forwarded = true;
      arm("the stop");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::string left;
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) left += (left.empty() ? "" : ", ") + std::to_string(o.node_rank * o.nproc + static_cast<int>(i));
      }
      log << "launch: rank(s) " << left << " still running " << o.grace_seconds << " s (--grace) after " << why
          << "; killing them\n" << std::flush;
      signal_all(SIGKILL);  // ends a stopped (SIGSTOP) rank too
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A stopped job ends with the stop's own status (SIGINT 130, SIGTERM 143), whatever its ranks said.
  return stop_requested() ? stop_exit_status() : result;
}

}  // namespace p2p
