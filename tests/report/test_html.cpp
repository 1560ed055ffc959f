// HTML results page: escaping of text, URL-encoding of image paths, one table row per entry.
#include "p2p/report/html.h"

#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace p2p {
namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

TEST(Html, WritesOneRowPerEntryWithImages) {
  const std::string dir = test::scratch_dir("html_rows");
  std::vector<HtmlRow> rows;
  for (int i = 0; i < 3; ++i) {
    const std::string stem = "img" + std::to_string(i);
    rows.push_back({stem,
                    {{"real_A", "images/" + stem + "_real_A.png"},
                     {"fake_B", "images/" + stem + "_fake_B.png"},
                     {"real_B", "images/" + stem + "_real_B.png"}},
                    "PSNR 20.00 dB"});
  }
  write_html(dir + "/index.html", "Results", "3 images", rows, 128);
  ASSERT_TRUE(test::file_exists(dir + "/index.html"));
  const std::string page = test::read_file(dir + "/index.html");
  EXPECT_EQ(count_of(page, "<tr>"), 3u);
  EXPECT_EQ(count_of(page, "<img "), 9u);
  EXPECT_NE(page.find("src=\"images/img1_fake_B.png\""), std::string::npos);
  EXPECT_NE(page.find("src=\"images/img2_real_B.png\""), std::string::npos);
  EXPECT_NE(page.find("width=\"128\""), std::string::npos);
  EXPECT_NE(page.find("<title>Results</title>"), std::string::npos);
  EXPECT_NE(page.find("3 images"), std::string::npos);
  EXPECT_EQ(count_of(page, "PSNR 20.00 dB"), 3u);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  // Atomic write leaves no temp file beside the page.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(Html, EscapesTextAndEncodesPaths) {
  const std::string dir = test::scratch_dir("html_escape");
  std::vector<HtmlRow> rows{{"a<b>&\"c'", {{"x<y", "images/my file#1%.png"}}, "note & <i>"}};
  write_html(dir + "/page.html", "T & <T>", "", rows);
  const std::string page = test::read_file(dir + "/page.html");
  EXPECT_NE(page.find("a&lt;b&gt;&amp;&quot;c&#39;"), std::string::npos) << page;
  EXPECT_NE(page.find("x&lt;y"), std::string::npos);
  EXPECT_NE(page.find("note &amp; &lt;i&gt;"), std::string::npos);
  EXPECT_NE(page.find("<title>T &amp; &lt;T&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("src=\"images/my%20file%231%25.png\""), std::string::npos) << page;
  EXPECT_EQ(page.find("<i>"), std::string::npos);
  EXPECT_EQ(page.find("my file"), std::string::npos);
  EXPECT_EQ(page.find("class=\"summary\""), std::string::npos);  // empty summary: no paragraph
  EXPECT_EQ(count_of(page, "<tr>"), 1u);
}

TEST(Html, ReplacesAnExistingPage) {
  const std::string dir = test::scratch_dir("html_replace");
  write_html(dir + "/index.html", "first", "", {{"one", {}, ""}, {"two", {}, ""}});
  write_html(dir + "/index.html", "second", "", {{"three", {}, ""}});
  const std::string page = test::read_file(dir + "/index.html");
  EXPECT_EQ(page.find("first"), std::string::npos);
  EXPECT_EQ(count_of(page, "<tr>"), 1u);
}

}  // namespace
}  // namespace p2p
