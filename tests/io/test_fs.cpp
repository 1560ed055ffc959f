// Tests for filesystem helpers: atomic writes keep the old file when the writer fails and are durable
// (the data is flushed before the rename, the folder after it), stale temp files of killed writers are
// removed, a folder lock admits one holder, listings are sorted full paths of images only, and errors
// name the path.
#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unistd.h>
#include <vector>

// This test program's own fsync and rename: they record the calls made while tracing is on and then do
// the real thing, so the order of flushes and renames in write_atomically can be checked.
namespace {
std::atomic<bool> g_trace{false};
std::mutex g_calls_mutex;
std::vector<std::string> g_calls;

std::string fd_path(int fd) {
  char buf[PATH_MAX] = {0};
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
}

void record(const std::string& call) {
  if (!g_trace) return;
  std::lock_guard<std::mutex> lock(g_calls_mutex);
  g_calls.push_back(call);
}
}  // namespace

extern "C" int fsync(int fd) {
  static auto real = reinterpret_cast<int (*)(int)>(::dlsym(RTLD_NEXT, "fsync"));
  record("fsync " + fd_path(fd));
  return real(fd);
}

extern "C" int rename(const char* from, const char* to) {
  static auto real = reinterpret_cast<int (*)(const char*, const char*)>(::dlsym(RTLD_NEXT, "rename"));
  record(std::string("rename ") + from + " " + to);
  return real(from, to);
}

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

namespace {

int count_entries(const std::string& dir) {
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += 1 + 0 * e.is_regular_file();
  return n;
}

}  // namespace

TEST(Fs, WriteTextAtomicallyWritesAndReplaces) {
  const std::string dir = scratch_dir("fs_text");
  write_text_atomically(dir + "/a.txt", "first");
  EXPECT_EQ(read_file(dir + "/a.txt"), "first");
  write_text_atomically(dir + "/a.txt", "second\n");
  EXPECT_EQ(read_file(dir + "/a.txt"), "second\n");
  EXPECT_EQ(count_entries(dir), 1);  // no temp file left
}

TEST(Fs, AtomicWriteFlushesDataBeforeTheRenameAndTheFolderAfter) {
  const std::string dir = fs::canonical(scratch_dir("fs_sync")).string();
  {
    std::lock_guard<std::mutex> lock(g_calls_mutex);
    g_calls.clear();
  }
  g_trace = true;
  write_text_atomically(dir + "/a.txt", "durable");
  g_trace = false;
  std::lock_guard<std::mutex> lock(g_calls_mutex);
  ASSERT_EQ(g_calls.size(), 3u) << ::testing::PrintToString(g_calls);
  const std::string tmp = g_calls[1].substr(7, g_calls[1].find(' ', 7) - 7);
  EXPECT_EQ(tmp.rfind(dir + "/a.txt.tmp." + std::to_string(::getpid()) + ".", 0), 0u) << tmp;
  EXPECT_EQ(g_calls[0], "fsync " + tmp);               // the data reaches the disk first,
  EXPECT_EQ(g_calls[1], "rename " + tmp + " " + dir + "/a.txt");  // then the name points at it,
  EXPECT_EQ(g_calls[2], "fsync " + dir);               // and the rename itself is made durable
  EXPECT_EQ(read_file(dir + "/a.txt"), "durable");
}

TEST(Fs, StaleTempFilesOfDeadWritersAreRemoved) {
  const std::string dir = scratch_dir("fs_stale");
  const std::string dead = "latest.pt.tmp.2147483000.0", mine = "best.pt.tmp." + std::to_string(::getpid()) + ".4";
  const std::string parent = "x.png.tmp." + std::to_string(::getppid()) + ".1";
  for (const std::string& f : {dead, mine, parent, std::string("notes.tmp.txt"), std::string("latest.pt")}) {
    std::ofstream(dir + "/" + f) << "x";
  }
  EXPECT_EQ(remove_stale_temp_files(dir), std::vector<std::string>{dead});
  EXPECT_FALSE(file_exists(dir + "/" + dead));
  for (const std::string& f : {mine, parent, std::string("notes.tmp.txt"), std::string("latest.pt")}) {
    EXPECT_TRUE(file_exists(dir + "/" + f)) << f;
  }
}

TEST(Fs, FolderLockAdmitsOneHolder) {
  const std::string dir = scratch_dir("fs_lock") + "/run";
  {
    FolderLock first(dir, "trainer");
    EXPECT_EQ(read_file(dir + "/.lock"), std::to_string(::getpid()) + "\n");
    try {
      FolderLock second(dir, "trainer");
      FAIL() << "a second lock on the same folder was granted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(dir + " is in use by another trainer (PID " + std::to_string(::getpid())), std::string::npos)
          << msg;
    }
  }
  FolderLock again(dir, "trainer");  // released with its holder; the old .lock file is no obstacle
}

TEST(Fs, FailedWriterLeavesOldFileIntact) {
  const std::string dir = scratch_dir("fs_fail");
  write_text_atomically(dir + "/a.txt", "old content");
  EXPECT_THROW(write_atomically(dir + "/a.txt",
                                [](const std::string& tmp) {
                                  std::ofstream(tmp) << "half of the new";
                                  throw std::runtime_error("disk on fire");
                                }),
               std::runtime_error);
  EXPECT_EQ(read_file(dir + "/a.txt"), "old content");
  EXPECT_EQ(count_entries(dir), 1);
}

TEST(Fs, WriterThatWritesNothingIsAnError) {
  const std::string dir = scratch_dir("fs_nothing");
  try {
    write_atomically(dir + "/a.bin", [](const std::string&) {});
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.bin"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(file_exists(dir + "/a.bin"));
}

TEST(Fs, AtomicWriteCreatesParentFolders) {
  const std::string dir = scratch_dir("fs_parents");
  write_text_atomically(dir + "/x/y/z.txt", "deep");
  EXPECT_EQ(read_file(dir + "/x/y/z.txt"), "deep");
}

TEST(Fs, ListImagesSortedFullPathsImagesOnly) {
  const std::string dir = scratch_dir("fs_list");
  // c.tfw is a GeoTIFF world file beside c.tif: not an image.
  for (const char* name : {"b.png", "a.JPG", "10.png", "2.png", "notes.txt", "c.tif", "c.tfw"}) std::ofstream(dir + "/" + name) << "x";
  fs::create_directories(dir + "/sub.png");  // a folder with an image-like name is not listed
  std::vector<std::string> got = list_images(dir);
  std::vector<std::string> expect = {dir + "/10.png", dir + "/2.png", dir + "/a.JPG", dir + "/b.png", dir + "/c.tif"};
  EXPECT_EQ(got, expect);
}

TEST(Fs, ListImagesMissingFolderNamesIt) {
  const std::string dir = scratch_dir("fs_missing") + "/nothing_here";
  try {
    list_images(dir);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
}

TEST(Fs, FileStem) {
  EXPECT_EQ(file_stem("a/b/12.jpg"), "12");
  EXPECT_EQ(file_stem("x.tar.gz"), "x.tar");
  EXPECT_EQ(file_stem("noext"), "noext");
}

TEST(Fs, MakeDirs) {
  const std::string dir = scratch_dir("fs_mkdir");
  make_dirs(dir + "/a/b/c");
  EXPECT_TRUE(fs::is_directory(dir + "/a/b/c"));
  make_dirs(dir + "/a/b/c");  // existing is fine
  std::ofstream(dir + "/file") << "x";
  try {
    make_dirs(dir + "/file");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/file"), std::string::npos) << e.what();
  }
}
