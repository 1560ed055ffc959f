// Tests for filesystem helpers: atomic writes keep the old file when the writer fails, listings are
// sorted full paths of images only, and errors name the path.
#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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
  for (const char* name : {"b.png", "a.JPG", "10.png", "2.png", "notes.txt", "c.tif"}) std::ofstream(dir + "/" + name) << "x";
  fs::create_directories(dir + "/sub.png");  // a folder with an image-like name is not listed
  std::vector<std::string> got = list_images(dir);
  std::vector<std::string> expect = {dir + "/10.png", dir + "/2.png", dir + "/a.JPG", dir + "/b.png"};
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
