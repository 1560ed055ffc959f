// Tests for scripts/download_pix2pix_dataset.sh against a local server: a tiny facades.tar.gz served
// over HTTP (python's http.server on a free loopback port) and over file://, plus the failure modes
// (unknown name: exit 2; corrupt or missing archive: non-zero and nothing half-extracted).
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace p2p::test;

namespace {

const std::string kScript = std::string(P2P_TEST_SOURCE_DIR) + "/scripts/download_pix2pix_dataset.sh";

// A loopback port nobody listens on right now (the kernel picks it).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// <root>/serve/facades.tar.gz holding facades/train/{1,2}.jpg and facades/test/1.jpg.
std::string make_archive(const std::string& root) {
  fs::create_directories(root + "/src/facades/train");
  fs::create_directories(root + "/src/facades/test");
  write_random_png(root + "/src/facades/train/1.jpg", 8, 4, 3, 1);
  write_random_png(root + "/src/facades/train/2.jpg", 8, 4, 3, 2);
  write_random_png(root + "/src/facades/test/1.jpg", 8, 4, 3, 3);
  fs::create_directories(root + "/serve");
  CommandResult r = run_command("tar -czf '" + root + "/serve/facades.tar.gz' -C '" + root + "/src' facades");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return root + "/serve";
}

CommandResult run_script(const std::string& base, const std::string& args) {
  return run_command("P2P_DATASET_URL_BASE='" + base + "' bash '" + kScript + "' " + args);
}

// Names left in `dir` (to check that no temp folder or archive stays behind).
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void expect_extracted(const std::string& root, const std::string& dest) {
  EXPECT_EQ(read_file(dest + "/facades/train/1.jpg"), read_file(root + "/src/facades/train/1.jpg"));
  EXPECT_TRUE(file_exists(dest + "/facades/train/2.jpg"));
  EXPECT_TRUE(file_exists(dest + "/facades/test/1.jpg"));
  EXPECT_EQ(entries(dest), std::vector<std::string>{"facades"});
}

}  // namespace

TEST(Download, FromFileUrl) {
  const std::string root = scratch_dir("download_file");
  const std::string serve = make_archive(root);
  CommandResult r = run_script("file://" + serve, "facades '" + root + "/data'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_extracted(root, root + "/data");
  // A second run keeps the existing data.
  r = run_script("file://" + serve, "facades '" + root + "/data'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;
}

TEST(Download, FromHttpServer) {
  ASSERT_TRUE(python_can_import("http.server", "python3"));  // serves the archive over loopback
  const std::string root = scratch_dir("download_http");
  const std::string serve = make_archive(root);
  const int port = free_port();
  ASSERT_GT(port, 0);
  // Output to a file, so the shell's pipe closes once `echo $!` has run.
  CommandResult started = run_command(std::string(P2P_TEST_PYTHON) + " -m http.server --bind 127.0.0.1 " +
                                      std::to_string(port) + " --directory '" + serve + "' > '" + root +
                                      "/server.log' 2>&1 & echo $!");
  const pid_t pid = static_cast<pid_t>(std::stol(started.output));
  ASSERT_GT(pid, 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  for (int i = 0; i < 100; ++i) {
    if (run_command("curl -sf -o /dev/null '" + base + "/facades.tar.gz'").exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CommandResult r = run_script(base, "facades '" + root + "/data'");
  CommandResult missing = run_script(base, "maps '" + root + "/data'");  // 404
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, WNOHANG);
  ASSERT_EQ(r.exit_code, 0) << r.output << read_file(root + "/server.log");
  expect_extracted(root, root + "/data");
  EXPECT_NE(missing.exit_code, 0) << missing.output;
  EXPECT_EQ(entries(root + "/data"), std::vector<std::string>{"facades"});
}

TEST(Download, UnknownNameIsUsageError) {
  CommandResult r = run_command("bash '" + kScript + "' horses2zebras /tmp/never");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("usage"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("edges2shoes"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists("/tmp/never"));
  EXPECT_EQ(run_command("bash '" + kScript + "'").exit_code, 2);
}

TEST(Download, CorruptOrMissingArchiveLeavesNothing) {
  const std::string root = scratch_dir("download_bad");
  fs::create_directories(root + "/serve");
  std::ofstream(root + "/serve/maps.tar.gz") << "<html>404 not found</html>";
  CommandResult r = run_script("file://" + root + "/serve", "maps '" + root + "/data'");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a gzip archive"), std::string::npos) << r.output;
  EXPECT_TRUE(entries(root + "/data").empty());
  // A gzip that is not a tar, and a tar without the expected folder.
  run_command("echo hello | gzip > '" + root + "/serve/night2day.tar.gz'");
  r = run_script("file://" + root + "/serve", "night2day '" + root + "/data'");
  EXPECT_NE(r.exit_code, 0) << r.output;
  fs::create_directories(root + "/src/other");
  std::ofstream(root + "/src/other/x.jpg") << "x";
  run_command("tar -czf '" + root + "/serve/cityscapes.tar.gz' -C '" + root + "/src' other");
  r = run_script("file://" + root + "/serve", "cityscapes '" + root + "/data'");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cityscapes/"), std::string::npos) << r.output;
  r = run_script("file://" + root + "/serve", "edges2shoes '" + root + "/data'");  // no such file
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(entries(root + "/data").empty());
}
