// Tests for report/run_report: the page built from a fixture run folder (results, samples newest first,
// checkpoint and test-result links, live reload only while training), and the page opened in headless
// Chromium: no console error, and every image on it decoded.
#include "p2p/report/plot.h"
#include "p2p/report/run_report.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

// A run folder as training leaves it: config, three epochs of history, samples of epochs 1 and 2,
// a checkpoint, and one recorded `p2p test` folder outside the run.
std::string fixture_run(const std::string& tag) {
  const std::string root = test::scratch_dir(tag);
  const std::string run = root + "/checkpoints/my run";
  fs::create_directories(run + "/samples");
  std::ofstream(run + "/config.json")
      << R"({"train":{"name":"my run","best_metric":"val_psnr","n_epochs":2,"n_epochs_decay":1},"net":{"netG":"unet_32"}})";
  std::ofstream(run + "/history.jsonl")
      << R"({"baseline":true,"epoch":0,"iters":0,"val":{"l1":0.5,"mae":0.25,"psnr":10.0,"ssim":0.05}})" "\n"
      << R"({"epoch":1,"iters":4,"lr_G":0.0002,"lr_D":0.0002,"seconds":1,"it_per_s":4,"train":{"G_GAN":0.9,"G_L1":0.5,"G_total":50.9,"D_real":0.6,"D_fake":0.7},"val":{"l1":0.4,"mae":0.2,"psnr":12.5,"ssim":0.2}})" "\n"
      << R"({"epoch":2,"iters":8,"lr_G":0.0002,"lr_D":0.0002,"seconds":1,"it_per_s":4,"train":{"G_GAN":1.0,"G_L1":0.45,"G_total":46.0,"D_real":0.5,"D_fake":0.6},"val":{"l1":0.35,"mae":0.175,"psnr":13.25,"ssim":0.25}})" "\n"
      << R"({"epoch":3,"iters":12,"lr_G":0.0001,"lr_D":0.0001,"seconds":1,"it_per_s":4,"train":{"G_GAN":1.1,"G_L1":0.44,"G_total":45.1,"D_real":0.5,"D_fake":0.5},"val":{"l1":0.36,"mae":0.18,"psnr":13.0,"ssim":0.26}})" "\n";
  test::write_random_png(run + "/samples/epoch_001_a b#1.png", 96, 32, 3, 1);
  test::write_random_png(run + "/samples/epoch_002_a b#1.png", 96, 32, 3, 2);
  std::ofstream(run + "/latest.pt") << "x";
  const std::string results = root + "/results/my run/test_best";
  fs::create_directories(results);
  std::ofstream(results + "/index.html") << "<!DOCTYPE html><title>t</title>";
  record_test_result(run, "test", "best", results,
                     {{"l1", 0.33}, {"psnr", 13.7}, {"ssim", 0.27}, {"mean_iou", 0.1875}, {"fid", 81.25}}, 106);
  return run;
}

TEST(RunReport, PageHoldsResultsSamplesNewestFirstAndLinks) {
  const std::string run = fixture_run("run_report_page");
  write_run_report(run, /*live=*/true);
  const std::string page = test::read_file(run + "/report.html");
  EXPECT_NE(page.find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_NE(page.find("<title>my run"), std::string::npos);
  EXPECT_NE(page.find("Epoch 3 of 3, 12 iterations"), std::string::npos);
  EXPECT_NE(page.find("<td>best (val_psnr)</td><td>2</td><td>0.3500</td>"), std::string::npos);
  EXPECT_NE(page.find("<td>last</td><td>3</td>"), std::string::npos);
  const size_t e2 = page.find("<h3>epoch 2</h3>"), e1 = page.find("<h3>epoch 1</h3>");
  ASSERT_NE(e2, std::string::npos);
  ASSERT_NE(e1, std::string::npos);
  EXPECT_LT(e2, e1) << "newest epoch first";
  EXPECT_NE(page.find("samples/epoch_002_a%20b%231.png"), std::string::npos);
  EXPECT_NE(page.find("href=\"latest.pt\""), std::string::npos);
  EXPECT_NE(page.find("../../results/my%20run/test_best/index.html"), std::string::npos);
  EXPECT_NE(page.find(">13.70<"), std::string::npos);
  // The realism scores a test recorded get their columns; scores no test has get none.
  EXPECT_NE(page.find("<th>mean IoU</th>"), std::string::npos);
  EXPECT_NE(page.find(">0.1875<"), std::string::npos);
  EXPECT_NE(page.find(">81.25<"), std::string::npos);
  EXPECT_EQ(page.find("<th>LPIPS</th>"), std::string::npos);
  EXPECT_NE(page.find("&quot;netG&quot;: &quot;unet_32&quot;"), std::string::npos);  // the config, escaped
  EXPECT_TRUE(test::file_exists(run + "/results.md"));
  EXPECT_TRUE(test::file_exists(run + "/history.csv"));
  if (plots_available()) {
    EXPECT_TRUE(test::file_exists(run + "/plots/losses.png"));
    EXPECT_TRUE(test::file_exists(run + "/plots/metrics.png"));
  }
  write_run_report(run, /*live=*/false);
  EXPECT_EQ(test::read_file(run + "/report.html").find("http-equiv=\"refresh\""), std::string::npos);
}

TEST(RunReport, MissingConfigNamesTheFile) {
  const std::string dir = test::scratch_dir("run_report_missing");
  EXPECT_NE(test::error_of([&] { write_run_report(dir, false); }).find("config.json"), std::string::npos);
}

// Opens the page inside a same-folder wrapper (file access allowed) that lists each image's decode
// state into the DOM, which --dump-dom prints; console messages go to stderr with --enable-logging.
TEST(RunReport, OpensInHeadlessChromiumWithEveryImageDecoded) {
  const test::CommandResult which = test::run_command("command -v chromium");
  ASSERT_EQ(which.exit_code, 0) << "chromium is needed for this test (scripts/setup.sh installs it)";
  const std::string run = fixture_run("run_report_chromium");
  write_run_report(run, /*live=*/false);
  std::ofstream(run + "/check.html") << R"(<!DOCTYPE html><html><body><div id="out">pending</div>
<script>
const f = document.createElement('iframe');  // listener first, then src: the load cannot be missed
f.width = 1600; f.height = 1200;
// The iframe's load waits for its images, and the page's load (after which the DOM is dumped) waits for
// the iframe: everything here is synchronous. Drawing each image and reading its pixels back forces a
// full decode; a missing file has naturalWidth 0, a truncated one leaves pixels transparent.
f.addEventListener('load', () => {
  const imgs = Array.from(f.contentDocument.images);
  const decoded = imgs.filter(i => {
    if (!i.complete || i.naturalWidth === 0) return false;
    const c = document.createElement('canvas');
    c.width = i.naturalWidth; c.height = i.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(i, 0, 0);
    try {
      const px = g.getImageData(0, 0, c.width, c.height).data;
      // The report's images are opaque: a pixel left transparent was never decoded (a truncated file).
      for (let k = 3; k < px.length; k += 4) if (px[k] !== 255) return false;
      return true;
    } catch (e) { document.title = 'getImageData: ' + e; return false; }
  });
  document.getElementById('out').textContent = 'images ' + imgs.length + ' decoded ' + decoded.length;
});
f.src = 'report.html';
document.body.appendChild(f);
</script></body></html>)";
  const std::string cmd = "(cd '" + run + "' && timeout 120 chromium --headless --no-sandbox --disable-gpu "
                          "--allow-file-access-from-files --enable-logging=stderr --v=0 --virtual-time-budget=10000 "
                          "--user-data-dir=chrome-profile --no-first-run --disable-dev-shm-usage "
                          "--dump-dom check.html 2>chromium.log)";
  const test::CommandResult r = test::run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t at = r.output.find("<div id=\"out\">");
  ASSERT_NE(at, std::string::npos) << r.output;
  // 2 plots (when built with cairo) + 2 samples, all decoded.
  const int expected = plots_available() ? 4 : 2;
  EXPECT_NE(r.output.find("images " + std::to_string(expected) + " decoded " + std::to_string(expected)),
            std::string::npos)
      << r.output.substr(at, 60);
  const std::string log = test::read_file(run + "/chromium.log");
  EXPECT_EQ(log.find("CONSOLE"), std::string::npos) << log;
  EXPECT_EQ(log.find("Failed to load"), std::string::npos) << log;
}

}  // namespace
}  // namespace p2p
