// Small filesystem helpers: durable atomic writes, folder locks, sorted image listings.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace p2p {

// Writes via `writer(tmp_path)` and renames the temp file (<path>.tmp.<pid>.<n>) over `path`, so readers
// see the old or the new file, never a partial one; the temp file is removed if writer throws.
// `durable`: also flushes the temp file to disk before the rename and the folder after it, so this holds
// after a power cut too (checkpoints, configs); outputs that can be made again (images) skip the cost.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& writer,
                      bool durable = true);
void write_text_atomically(const std::string& path, const std::string& text);

// Removes temp files of atomic writes in `dir` (not recursive) whose writing process no longer runs;
// returns their names. A killed write leaves one behind, up to a whole checkpoint in size.
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

// An exclusive lock on a folder, held until the object is destroyed or the process ends in any way
// (the kernel drops it, so a lock of a killed process is never stale). The lock file <dir>/.lock holds
// the holder's PID. A second locker gets p2p::Error naming `what`, the folder and that PID.
class FolderLock {
 public:
  FolderLock(const std::string& dir, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Image files directly in `dir`, sorted by name. Throws p2p::Error if `dir` is missing.
std::vector<std::string> list_images(const std::string& dir);

// The extension of a path's file name, lower-cased ("a/B.TIF" -> ".tif"; "" when it has none).
std::string lower_extension(const std::string& path);

// File name without folder and extension ("a/b/12.jpg" -> "12").
std::string file_stem(const std::string& path);

void make_dirs(const std::string& dir);

}  // namespace p2p
