// Filesystem helpers (see fs.h). Atomic writes go through a temp file in the destination's folder, so
// the final rename stays on one filesystem and is atomic on POSIX; everything else is std::filesystem
// with errors turned into p2p::Error messages that name the path.
#include "p2p/io/fs.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// Unique per process and call, so concurrent writers of the same path never share a temp file.
std::string temp_path_for(const fs::path& target) {
  static std::atomic<uint64_t> counter{0};
  return target.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& writer) {
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
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    fail("cannot write " + path + ": " + ec.message());
  }
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
