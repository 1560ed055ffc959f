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

// Text for HTML element content or attribute values (&, <, >, quotes escaped).
std::string html_escape(const std::string& s);

// A relative file path as a URL path: every byte outside RFC 3986's unreserved set percent-encoded,
// '/' kept, so names holding '#', '?', spaces or quotes still point at their file.
std::string url_escape_path(const std::string& s);

// A link from a page in `page_dir` to `target`: a relative URL path when both are on one file system
// tree (the usual case), else an absolute file:// URL.
std::string relative_link(const std::string& page_dir, const std::string& target);

// Writes `path` atomically: a page titled `title`, optional `summary` paragraph, one row per entry.
// Labels and titles are HTML-escaped; image paths are URL-escaped.
// `links` (label, href) form a line of links under the summary (downloads, other orderings).
void write_html(const std::string& path, const std::string& title, const std::string& summary,
                const std::vector<HtmlRow>& rows, int image_width = 256,
                const std::vector<std::pair<std::string, std::string>>& links = {});

}  // namespace p2p
