// A `p2p serve` process for the HTTP tests: started with arguments, its port read from the start line,
// stopped with SIGTERM (exit status kept) or killed when the test ends. And the tiny run every test serves.
#pragma once

#include "testutil/testutil.h"

#include <httplib.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace p2p::test {

class ServeProcess {
 public:
  // `args` after `p2p serve` (shell-quoted); the port is --port 0 unless args give one. Returns once the
  // start line is printed, or once the output holds `wait_for` when given (then the port is not read).
  explicit ServeProcess(const std::string& args, const std::string& dir = scratch_dir("serve"),
                        const std::string& wait_for = "")
      : dir_(dir) {
    out_ = dir_ + "/serve.out";
    err_ = dir_ + "/serve.err";
    const std::string cmd = "exec '" + std::string(P2P_TEST_BIN) + "' serve " + args +
                            (args.find("--port") == std::string::npos ? " --port 0" : "") + " > '" + out_ + "' 2> '" +
                            err_ + "'";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const std::regex line(R"(listening on http://[^:]+:(\d+)/)");
    while (std::chrono::steady_clock::now() < until) {
      std::smatch m;
      const std::string out = read_file(out_);
      if (!wait_for.empty() && (out + read_file(err_)).find(wait_for) != std::string::npos) return;
      if (wait_for.empty() && std::regex_search(out, m, line)) {
        port_ = std::stoi(m[1]);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool running() const { return pid_ > 0 && port_ > 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string output() const { return read_file(out_) + read_file(err_); }
  // SIGTERM (or `sig`), then the exit status (128 + signal when killed; -2 when it did not end in `limit_s`).
  int stop(int sig = SIGTERM, int limit_s = 30) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, sig);
    return wait_exit(limit_s);
  }
  int wait_exit(int limit_s = 30) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -2;
  }

 private:
  std::string dir_, out_, err_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

// Polls GET /metrics (every 5 ms, at most `tries` times) until the server reports `depth` translate
// requests admitted; false if it never does.
inline bool wait_for_queue_depth(int port, int depth, int tries) {
  httplib::Client c("127.0.0.1", port);
  const std::string line = "p2p_serve_queue_depth " + std::to_string(depth) + "\n";
  for (int i = 0; i < tries; ++i) {
    auto m = c.Get("/metrics");
    if (m && m->body.find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// A tiny trained run (unet_32, width 8) on random 32x32 pairs, made once per test process:
// <folder>/ck/tiny. Returns the checkpoints folder.
inline const std::string& tiny_serve_run() {
  static const std::string ck = [] {
    const std::string root = scratch_dir("serve_run");
    write_ab_dataset(root + "/data", 4, 2);
    const CommandResult r = run_p2p(tiny_train_command(root + "/data", root + "/ck", "tiny", "--seed 3"));
    if (r.exit_code != 0) throw std::runtime_error("training the tiny run failed:\n" + r.output);
    return root + "/ck";
  }();
  return ck;
}

}  // namespace p2p::test
