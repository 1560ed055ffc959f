// The drawing page in headless Chromium, through its own controls (tests/serve/page_check.py): a swatch,
// a brush, strokes, undo, eraser, upload; the output it shows must be byte for byte the API's reply to
// the same canvas, with the token sent, exact palette colours and one request in flight at a time.
#include "serve/serve_process.h"

#include <gtest/gtest.h>

using namespace p2p::test;

TEST(ServePage, DrawingThroughThePageShowsTheApisReplyForTheCanvas) {
  ASSERT_EQ(run_command("command -v chromium").exit_code, 0) << "chromium is needed (scripts/setup.sh installs it)";
  ASSERT_TRUE(python_can_import("websocket", "python3-websocket"));
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --palette facades --token pagetoken");
  ASSERT_TRUE(server.running()) << server.output();
  const std::string dir = scratch_dir("serve_page");
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/?token=pagetoken";
  const CommandResult r =
      run_python_script("serve/page_check.py", "--url '" + url + "' --token pagetoken --screenshot '" + dir + "/page.png'");
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nserver:\n" << server.output();
  EXPECT_NE(r.output.find("\"ok\": true"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"palette\": \"facades\""), std::string::npos) << r.output;
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServePage, APageWithoutTheTokenIsRefused) {
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --token pagetoken");
  ASSERT_TRUE(server.running()) << server.output();
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  const CommandResult r = run_python_script("serve/page_check.py", "--url '" + url + "' --token pagetoken --timeout 20");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("needs a token"), std::string::npos) << r.output;
}
