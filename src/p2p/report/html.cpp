// Static HTML results page: one table row per image (title + note, then labelled thumbnails that link
// to the full-size file). Self-contained (inline CSS, no scripts) so it opens from disk anywhere.
// Text is HTML-escaped and image paths percent-encoded, so stems holding '&', '#', spaces or quotes
// neither break the markup nor point at the wrong file. Written atomically: a reader never sees half a page.
#include "p2p/report/html.h"

#include "p2p/io/fs.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Percent-encodes every byte outside RFC 3986's unreserved set, keeping '/' as the path separator.
// UTF-8 names are encoded byte by byte, which browsers decode back to the same file name.
std::string url_escape_path(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~' || c == '/';
    if (keep) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string relative_link(const std::string& page_dir, const std::string& target) {
  std::error_code ec;
  const fs::path from = fs::weakly_canonical(page_dir, ec), to = fs::weakly_canonical(target, ec);
  const fs::path rel = to.lexically_relative(from);
  if (!rel.empty()) return url_escape_path(rel.generic_string());
  return "file://" + url_escape_path(to.generic_string());
}

void write_html(const std::string& path, const std::string& title, const std::string& summary,
                const std::vector<HtmlRow>& rows, int image_width,
                const std::vector<std::pair<std::string, std::string>>& links) {
  const std::string width = std::to_string(image_width > 0 ? image_width : 256);
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<title>" << html_escape(title) << "</title>\n"
    << "<style>\n"
    << "body { font-family: sans-serif; margin: 1em; }\n"
    << "table { border-collapse: collapse; }\n"
    << "td { vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #ddd; }\n"
    << "td.name { font-weight: bold; }\n"
    << ".note { font-weight: normal; font-family: monospace; white-space: pre-wrap; }\n"
    << "figure { margin: 0; } figcaption { text-align: center; }\n"
    << "</style>\n</head>\n<body>\n"
    << "<h1>" << html_escape(title) << "</h1>\n";
  if (!summary.empty()) h << "<p class=\"summary\">" << html_escape(summary) << "</p>\n";
  if (!links.empty()) {
    h << "<p class=\"links\">";
    for (size_t i = 0; i < links.size(); ++i) {
      h << (i ? " · " : "") << "<a href=\"" << url_escape_path(links[i].second) << "\">" << html_escape(links[i].first)
        << "</a>";
    }
    h << "</p>\n";
  }
  h << "<table>\n";
  for (const HtmlRow& row : rows) {
    h << "<tr>\n<td class=\"name\">" << html_escape(row.title);
    if (!row.note.empty()) h << "<div class=\"note\">" << html_escape(row.note) << "</div>";
    h << "</td>\n";
    for (const auto& [label, src] : row.images) {
      const std::string url = url_escape_path(src);
      h << "<td><figure><a href=\"" << url << "\"><img src=\"" << url << "\" width=\"" << width << "\" alt=\""
        << html_escape(label) << "\"></a><figcaption>" << html_escape(label) << "</figcaption></figure></td>\n";
    }
    h << "</tr>\n";
  }
  h << "</table>\n</body>\n</html>\n";
  write_text_atomically(path, h.str());
}

}  // namespace p2p
