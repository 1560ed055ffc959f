// Small filesystem helpers: atomic writes, sorted image listings.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace p2p {

// Writes via `writer(tmp_path)` then renames tmp over `path`: readers see the old or the new file,
// never a partial one. The temp file is removed if writer throws.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& writer);
void write_text_atomically(const std::string& path, const std::string& text);

// Image files directly in `dir`, sorted by name. Throws p2p::Error if `dir` is missing.
std::vector<std::string> list_images(const std::string& dir);

// File name without folder and extension ("a/b/12.jpg" -> "12").
std::string file_stem(const std::string& path);

void make_dirs(const std::string& dir);

}  // namespace p2p
