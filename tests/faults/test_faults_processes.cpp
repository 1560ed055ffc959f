// Fault cases of processes (issue 24): nothing is left running and every stop ends with its documented
// status. A SIGKILLed sweep takes its trainer with it and a rerun finishes the run; a launcher told to
// stop while one rank is frozen (SIGSTOP) ends every rank within --grace; SIGINT ends any command with
// 130 and SIGTERM with 143, whether it comes before the handlers exist or during training; a node that
// never comes makes the rendezvous fail within --dist_timeout, in one line naming the missing rank.
#include "faults/faults.h"

#include "p2p/dist/communicator.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {
namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }
const std::string kBin = q(P2P_TEST_BIN);

// Live processes whose command line contains `text` (a zombie's command line is empty).
std::vector<int> processes_with(const std::string& text) {
  std::vector<int> pids;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == ::getpid()) continue;
    std::ifstream in(it->path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.find(text) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

// Waits up to `seconds` for `done`; true when it came.
template <typename F>
bool wait_for(double seconds, F done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string tiny_train_flags(const std::string& data) {
  return " --dataroot " + q(data) + " --val_fraction 0.3" + test::kTinyRun;
}

int port_for(int offset) { return 20000 + static_cast<int>((::getpid() * 7 + offset) % 20000); }

TEST(FaultsProcesses, AKilledSweepTakesItsTrainerAndARerunFinishes) {
  const std::string dir = test::scratch_dir("faults_proc_sweep");
  const std::string data = test::write_ab_dataset(dir + "/data", 6, 0);
  const std::string name = "orphan" + std::to_string(::getpid());
  std::ofstream(dir + "/spec.json") << R"({"name": ")" << name << R"(", "base": {"dataroot": ")" << data
                                    << R"(", "n_epochs": 2, "n_epochs_decay": 0, "val_fraction": 0.3, "netG": "unet_32",
      "ngf": 8, "ndf": 8, "load_size": 32, "crop_size": 32, "num_threads": 1}, "grid": {"seed": [1]}})";
  const std::string run = name + "__seed-1";
  const std::string sweep = kBin + " sweep " + q(dir + "/spec.json") + " --out " + q(dir + "/out");
  const auto started = test::run_command(sweep + " > " + q(dir + "/first.log") + " 2>&1 & echo $!");
  const int sweep_pid = std::stoi(started.output);
  // Once its trainer runs (the run's name is on its command line), the sweep is killed outright.
  ASSERT_TRUE(wait_for(60, [&] { return !processes_with("--name " + run).empty(); })) << test::read_file(dir + "/first.log");
  ASSERT_EQ(::kill(sweep_pid, SIGKILL), 0);
  EXPECT_TRUE(wait_for(2, [&] { return processes_with("--name " + run).empty(); }))
      << "the trainer outlived its sweep: PID " << processes_with("--name " + run).front();
  // The run folder is free again: the sweep goes on where the killed one was (fresh or resumed).
  const auto rerun = test::run_command(sweep);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(rerun.output.find("in use"), std::string::npos) << rerun.output;
  EXPECT_NE(rerun.output.find("0 failed"), std::string::npos) << rerun.output;
  EXPECT_TRUE(fs::exists(dir + "/out/runs/" + run + "/latest.pt"));
}

TEST(FaultsProcesses, AStoppedLauncherEndsAFrozenRankWithinTheGrace) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string dir = test::scratch_dir("faults_proc_frozen");
  const std::string data = test::write_ab_dataset(dir + "/data", 6, 0);
  // --dist_timeout 60: rank 0 would wait a minute for the frozen rank; the launcher must not.
  const std::string script =
      kBin + " launch --nproc 2 --grace 2 -- train" + tiny_train_flags(data) + " --checkpoints_dir " + q(dir) +
      " --name frozen --n_epochs 200 --dist_timeout 60 > " + q(dir + "/launch.log") + " 2>&1 & pl=$!\n"
      "for i in $(seq 1 600); do [ -s " + q(dir + "/frozen/latest.pt") + " ] && break; sleep 0.1; done\n"
      "kids=$(grep -l \"^PPid:[[:space:]]*$pl\\$\" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 | tr '\\n' ' ')\n"
      "set -- $kids; kill -STOP $2; t0=$(date +%s%N); kill -TERM $pl\n"
      "for i in $(seq 1 300); do kill -0 $pl 2>/dev/null || break; sleep 0.05; done\n"
      "t1=$(date +%s%N); if kill -0 $pl 2>/dev/null; then echo 'launcher still running'; kill -KILL $pl $kids; fi\n"
      "wait $pl; echo \"launcher status $? after $(( (t1 - t0) / 1000000 )) ms\"\n"
      "alive=0; for k in $kids; do grep -qs '^State:[[:space:]]*[^Z]' /proc/$k/status && alive=1; done\n"
      "echo \"ranks [$kids] alive $alive\"; kill -KILL $kids 2>/dev/null; true\n";
  std::ofstream(dir + "/run.sh") << script;
  const auto r = test::run_command("bash " + q(dir + "/run.sh"));
  const std::string log = test::read_file(dir + "/launch.log");
  EXPECT_EQ(r.output.find("launcher still running"), std::string::npos) << r.output << log;
  EXPECT_NE(r.output.find("launcher status 143 "), std::string::npos) << r.output << log;
  EXPECT_NE(r.output.find("alive 0"), std::string::npos) << r.output << log;
  EXPECT_EQ(r.output.find("ranks []"), std::string::npos) << r.output << log;  // it had started ranks
  const size_t at = r.output.find(" after ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_LT(std::stol(r.output.substr(at + 7)), 2000 + 3000) << "--grace 2 and a margin\n" << r.output << log;
  EXPECT_NE(log.find("still running 2 s (--grace) after the stop; killing them"), std::string::npos) << log;
}

// The status `p2p train` ends with when `sig` comes early (at once, while the program loads) or late
// (once training runs). Started here, not by a shell: a non-interactive shell starts background jobs
// with SIGINT ignored.
int stop_status(int sig, bool late, const std::string& dir) {
  const std::string name = std::string(sig == SIGINT ? "INT" : "TERM") + (late ? "_late" : "_early");
  const std::string log = dir + "/" + name + ".log";
  std::vector<std::string> args = {P2P_TEST_BIN, "train", "--dataroot", dir + "/data", "--val_fraction", "0.3",
                                   "--netG", "unet_32", "--ngf", "8", "--ndf", "8", "--load_size", "32", "--crop_size",
                                   "32", "--num_threads", "1", "--checkpoints_dir", dir, "--name", name,
                                   "--n_epochs", "1000", "--print_freq", "1"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (late) {
    wait_for(60, [&] { return test::read_file(log).find("training on") != std::string::npos; });
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, sig);
  int status = 0;
  if (!wait_for(60, [&] { return ::waitpid(pid, &status, WNOHANG) == pid; })) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(FaultsProcesses, EachWayOfStoppingHasOneStatus) {
  const std::string dir = test::scratch_dir("faults_proc_status");
  test::write_ab_dataset(dir + "/data", 6, 0);
  // README "Run folder and checkpoints": SIGINT (Ctrl-C) 130, SIGTERM 143, early or late.
  EXPECT_EQ(stop_status(SIGINT, false, dir), 130) << test::read_file(dir + "/INT_early.log");
  EXPECT_EQ(stop_status(SIGTERM, false, dir), 143) << test::read_file(dir + "/TERM_early.log");
  EXPECT_EQ(stop_status(SIGINT, true, dir), 130) << test::read_file(dir + "/INT_late.log");
  EXPECT_EQ(stop_status(SIGTERM, true, dir), 143) << test::read_file(dir + "/TERM_late.log");
  // The late ones saved first: training resumes from them.
  EXPECT_TRUE(fs::exists(dir + "/TERM_late/latest.pt") || test::read_file(dir + "/TERM_late.log").find("nothing saved") !=
                                                                 std::string::npos);
}

// A job of two nodes with only one started: the rendezvous gives up after --dist_timeout, naming the
// rank that never came, in one line without a stack trace.
void expect_missing(const std::string& node_rank, const std::string& missing, int port) {
  const std::string dir = test::scratch_dir("faults_proc_missing" + node_rank);
  const std::string data = test::write_ab_dataset(dir + "/data", 6, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = test::run_p2p("launch --nnodes 2 --node_rank " + node_rank + " --nproc 1 --master_port " +
                               std::to_string(port) + " -- train" + tiny_train_flags(data) + " --checkpoints_dir " +
                               q(dir) + " --name missing --dist_timeout 3");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_LT(seconds, 3 + 4.0) << r.output;  // the timeout, the program's start, a margin
  const size_t at = r.output.find("p2p: error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at, r.output.find('\n', at) - at);
  EXPECT_NE(line.find(missing), std::string::npos) << r.output;
  EXPECT_NE(line.find("--dist_timeout 3 s"), std::string::npos) << r.output;
  for (const char* noise : {"frame #", "Exception raised from", "socket.cpp", "Traceback"}) {
    EXPECT_EQ(r.output.find(noise), std::string::npos) << noise << " in:\n" << r.output;
  }
  // What is printed: the launcher's line, the rank's error, the launcher's note of the failed rank.
  EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 3) << r.output;
}

TEST(FaultsProcesses, AMissingNodeFailsWithinTheTimeoutNamingItsRanks) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  expect_missing("0", "rank 1 did not join within", port_for(1));
  expect_missing("1", "rank 0 did not answer", port_for(2));
}

}  // namespace
}  // namespace p2p
