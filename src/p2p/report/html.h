// Static HTML results pages (no server): a table row per image with labelled thumbnails.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace p2p {

struct HtmlRow {
  std::string title;                                         // e.g. the image stem
  std::vector<std::pair<std::string, std::string>> images;  // (label, path relative to the page)
  std::string note;                                          // optional text under the row (metrics)
};

// Writes `path` atomically: a page titled `title`, optional `summary` paragraph, one row per entry.
// Labels and titles are HTML-escaped; image paths are URL-escaped.
void write_html(const std::string& path, const std::string& title, const std::string& summary,
                const std::vector<HtmlRow>& rows, int image_width = 256);

}  // namespace p2p
