// Filesystem helpers (see fs.h). Atomic writes go through a temp file in the destination's folder, so
// the final rename stays on one filesystem and is atomic on POSIX; everything else is std::filesystem
// with errors turned into p2p::Error messages that name the path.
#include "p2p/io/fs.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {

namespace {

constexpr const char* kTempMarker = ".tmp.";

// Unique per process and call, so concurrent writers of the same path never share a temp file.
std::string temp_path_for(const fs::path& target) {
  static std::atomic<uint64_t> counter{0};
  return target.string() + kTempMarker + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// Flushes a file's (or a folder's) data and metadata to the disk.
void sync_path(const std::string& path, bool directory, const std::string& target) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) fail("cannot open " + path + " to flush it (while writing " + target + "): " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot flush " + path + " to disk (while writing " + target + "): " + std::strerror(err));
}

// The writer's PID in a temp-file name "<name>.tmp.<pid>.<n>", or -1.
long temp_file_pid(const std::string& name) {
  const size_t at = name.rfind(kTempMarker);
  if (at == std::string::npos) return -1;
  const std::string rest = name.substr(at + std::strlen(kTempMarker));
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string::npos || rest.find_first_not_of("0123456789.") != std::string::npos) return -1;
  errno = 0;
  const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
  return errno == ERANGE ? -1 : pid;
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& writer,
                      bool durable) {
  fs::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  const std::string tmp = temp_path_for(target);
  std::error_code ec;
  try {
    writer(tmp);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  if (!fs::exists(tmp, ec)) fail("writing " + path + ": the writer produced no file");
  try {
    if (durable) sync_path(tmp, /*directory=*/false, path);  // the data is on disk before the name points at it
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fs::remove(tmp, ec);
    fail("cannot write " + path + ": " + std::strerror(err));
  }
  if (!durable) return;
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  sync_path(parent.string(), /*directory=*/true, path);  // and the rename itself is durable
}

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const std::string name = it->path().filename().string();
    const long pid = temp_file_pid(name);
    // A live writer (this process, or another one still running) keeps its file.
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;
    std::error_code rm_ec;
    if (fs::remove(it->path(), rm_ec)) removed.push_back(name);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

FolderLock::FolderLock(const std::string& dir, const std::string& what) {
  make_dirs(dir);
  const std::string path = (fs::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create the lock file " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) fail("cannot lock " + path + ": " + std::strerror(err));
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    holder.erase(std::remove_if(holder.begin(), holder.end(), [](char c) { return c < '0' || c > '9'; }), holder.end());
    fail(dir + " is in use by another " + what + " (PID " + (holder.empty() ? "unknown" : holder) +
         ", holding " + path + "); wait for it to end or stop it, or choose another --name");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd_);
    fd_ = -1;
    fail("cannot write " + path + ": " + std::strerror(errno));
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock; the file stays, holding an old PID
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot open " + tmp + " for writing (while writing " + path + ")");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) fail("cannot write " + path + " (disk full?)");
  });
}

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail(fs::exists(dir, ec) ? dir + " is not a folder" : "folder " + dir + " does not exist");
  }
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    std::string name = it->path().filename().string();
    if (is_image_file(name)) names.push_back(name);
  }
  if (ec) fail("cannot list folder " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  paths.reserve(names.size());
  for (const std::string& name : names) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string file_stem(const std::string& path) { return fs::path(path).stem().string(); }

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::error_code check_ec;
  if (ec || !fs::is_directory(dir, check_ec)) {
    fail("cannot create folder " + dir + (ec ? ": " + ec.message() : ": a file of that name exists"));
  }
}

}  // namespace p2p
