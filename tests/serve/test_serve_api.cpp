// `p2p serve` over loopback with a real HTTP client: replies equal `p2p translate` byte for byte (every
// input format, multipart, tiling, the paper's test mode), concurrent requests batch without mixing up,
// every error path answers its status and a message, the token is enforced, and SIGTERM lets admitted
// requests finish.
#include "serve/serve_process.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <set>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace p2p::test;

namespace {

// Inputs of every format the API takes, written by PIL: <dir>/{a.png, b.jpg, c.tif, d_gray.png}.
std::string write_inputs(const std::string& dir) {
  const CommandResult r = run_command(
      std::string(P2P_TEST_PYTHON) + " -c \"import numpy as np; from PIL import Image; r = np.random.RandomState(7); "
      "Image.fromarray((r.rand(48, 40, 3) * 255).astype('uint8')).save('" + dir + "/a.png'); "
      "Image.fromarray((r.rand(37, 53, 3) * 255).astype('uint8')).save('" + dir + "/b.jpg', quality=90); "
      "Image.fromarray((r.rand(64, 32, 3) * 255).astype('uint8')).save('" + dir + "/c.tif'); "
      "Image.fromarray((r.rand(33, 31) * 255).astype('uint8')).save('" + dir + "/d_gray.png')\"");
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  return dir;
}

// `p2p translate` of every input in `in` with `flags` into <in>/../<tag>; returns that folder.
std::string translated(const std::string& in, const std::string& flags, const std::string& tag) {
  const std::string out = fs::path(in).parent_path().string() + "/" + tag;
  const CommandResult r = run_p2p("translate --name tiny --checkpoints_dir '" + tiny_serve_run() + "' --input '" + in +
                                  "' --output '" + out + "' " + flags);
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  return out;
}

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string error_message(const httplib::Result& r) {
  try {
    return nlohmann::json::parse(r->body).at("error").get<std::string>();
  } catch (const std::exception&) {
    return "<no JSON error in: " + r->body.substr(0, 200) + ">";
  }
}

}  // namespace

TEST(ServeApi, RepliesEqualTranslateForEveryInputFormatAndUpload) {
  const std::string dir = scratch_dir("serve_formats");
  fs::create_directories(dir + "/in");
  const std::string in = write_inputs(dir + "/in");
  const std::string expected = translated(in, "--eval", "expected");
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60);
  const std::map<std::string, std::pair<std::string, std::string>> cases = {
      // input -> (Content-Type sent, output file / reply type)
      {"a.png", {"image/png", "a.png"}},
      {"b.jpg", {"image/jpeg", "b.png"}},
      {"c.tif", {"application/octet-stream", "c.tif"}},  // sniffed; a TIFF input gives a TIFF reply
      {"d_gray.png", {"image/png", "d_gray.png"}},         // gray: read as RGB, as translate reads it
  };
  for (const auto& [file, expect] : cases) {
    const std::string body = read_file(in + "/" + file);
    auto r = client.Post("/v1/translate", body, expect.first.c_str());
    ASSERT_TRUE(r) << file << ": " << httplib::to_string(r.error());
    ASSERT_EQ(r->status, 200) << file << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), fs::path(expect.second).extension() == ".tif" ? "image/tiff" : "image/png");
    EXPECT_EQ(r->get_header_value("X-P2P-Model"), "tiny");
    EXPECT_TRUE(r->body == read_file(expected + "/" + expect.second)) << file << ": reply differs from p2p translate";
  }
  // A multipart upload, as a browser form sends it.
  httplib::MultipartFormDataItems form = {{"image", read_file(in + "/a.png"), "a.png", "image/png"}};
  auto r = client.Post("/v1/translate", form);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(r->body == read_file(expected + "/a.png")) << "multipart reply differs from p2p translate";
  EXPECT_EQ(server.stop(), 0) << server.output();
}

TEST(ServeApi, TiledAndTestModeServingEqualsTranslateWithTheSameOptions) {
  const std::string dir = scratch_dir("serve_tiled");
  fs::create_directories(dir + "/in");
  write_random_png(dir + "/in/wide.png", 96, 72, 3, 11);
  write_random_png(dir + "/in/small.png", 40, 24, 3, 12);
  {
    const std::string expected = translated(dir + "/in", "--eval --tile 32 --overlap 8 --tile_batch 3", "tiled");
    ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --tile 32 --overlap 8 --tile_batch 3");
    ASSERT_TRUE(server.running()) << server.output();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    for (const char* f : {"wide.png", "small.png"}) {
      auto r = client.Post("/v1/translate", read_file(dir + "/in/" + f), "image/png");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      EXPECT_TRUE(r->body == read_file(expected + "/" + f)) << f << ": tiled reply differs from p2p translate --tile 32";
    }
    auto info = client.Get("/v1/model");
    ASSERT_TRUE(info);
    const auto j = nlohmann::json::parse(info->body);
    EXPECT_EQ(j.at("tile").at("tile"), 32);
    EXPECT_EQ(j.at("netG"), "unet_32");
    EXPECT_EQ(j.at("size_multiple"), 32);
    EXPECT_EQ(j.at("input_nc"), 3);
    EXPECT_EQ(j.at("batched"), true);
  }
  // The paper's test mode (no --eval): batch statistics of each image alone, so requests never share a
  // forward; the upload's file name seeds its draws as translate seeds a file of that name.
  const std::string expected = translated(dir + "/in", "", "test_mode");
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "'");
  ASSERT_TRUE(server.running()) << server.output();
  EXPECT_NE(server.output().find("one at a time"), std::string::npos) << server.output();
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60);
  std::vector<std::pair<int, std::string>> replies(2, {0, ""});
  std::vector<std::thread> threads;
  const char* files[] = {"wide.png", "small.png"};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(60);
      auto r = c.Post("/v1/translate", httplib::MultipartFormDataItems{{"image", read_file(dir + "/in/" + files[i]), files[i], "image/png"}});
      if (r) replies[i] = {r->status, r->body};
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(replies[i].first, 200) << replies[i].second;
    EXPECT_TRUE(replies[i].second == read_file(expected + "/" + files[i])) << files[i] << ": test-mode reply differs";
  }
  auto info = client.Get("/v1/model");
  EXPECT_EQ(nlohmann::json::parse(info->body).at("batched"), false);
}

TEST(ServeApi, ConcurrentRequestsShareForwardsAndEachGetsItsOwnReply) {
  const std::string dir = scratch_dir("serve_concurrent");
  fs::create_directories(dir + "/in");
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) write_random_png(dir + "/in/" + std::to_string(100 + i) + ".png", 64, 64, 3, 100 + i);
  const std::string expected = translated(dir + "/in", "--eval", "expected");
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --batch_wait_ms 300 --max_batch 8");
  ASSERT_TRUE(server.running()) << server.output();
  std::vector<std::string> replies(kRequests);
  std::vector<int> status(kRequests, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(60);
      auto r = c.Post("/v1/translate", read_file(dir + "/in/" + std::to_string(100 + i) + ".png"), "image/png");
      if (r) status[i] = r->status, replies[i] = r->body;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(status[i], 200) << "request " << i << ": " << replies[i];
    EXPECT_TRUE(replies[i] == read_file(expected + "/" + std::to_string(100 + i) + ".png"))
        << "request " << i << " got a reply that is not its own image's translation";
  }
  httplib::Client client("127.0.0.1", server.port());
  const std::string metrics = client.Get("/metrics")->body;
  const auto value = [&](const std::string& name) {
    const size_t at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + name.size() + 2));
  };
  EXPECT_EQ(value("p2p_serve_batch_size_sum"), kRequests) << metrics;
  EXPECT_LT(value("p2p_serve_batch_size_count"), kRequests) << "no two requests shared a forward:\n" << metrics;
  EXPECT_NE(metrics.find("p2p_serve_requests_total{endpoint=\"translate\",outcome=\"ok\"} 12\n"), std::string::npos) << metrics;
  EXPECT_EQ(value("p2p_serve_request_seconds_count"), kRequests);
  EXPECT_EQ(value("p2p_serve_queue_depth"), 0);
}

TEST(ServeApi, ErrorsAnswerTheirStatusAndNameTheProblem) {
  const std::string dir = scratch_dir("serve_errors");
  write_random_png(dir + "/ok.png", 32, 32, 3, 1);
  write_random_png(dir + "/big.png", 256, 256, 3, 2);  // ~197 KB: over --max_body_mb 0.1
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --token s3cret --max_body_mb 0.1");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60);
  const std::string png = read_file(dir + "/ok.png");
  const auto auth = bearer("s3cret");

  // The token: /healthz never asks for it; everything else does; the page also takes ?token=.
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body).at("status"), "ok");
  r = c.Post("/v1/translate", png, "image/png");
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(error_message(r).find("Authorization: Bearer"), std::string::npos) << error_message(r);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  r = c.Post("/v1/translate", bearer("s3creT"), png, "image/png");
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(error_message(r).find("wrong token"), std::string::npos);
  EXPECT_EQ(c.Get("/v1/model")->status, 401);
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  EXPECT_EQ(c.Get("/")->status, 401);
  EXPECT_EQ(c.Get("/v1/model?token=s3cret")->status, 401) << "only the page takes the token in its address";
  r = c.Get("/?token=s3cret");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("<canvas"), std::string::npos);
  EXPECT_EQ(c.Get("/", auth)->status, 200);

  // Bodies that are not an image of ours.
  struct Case {
    std::string body, type, expect;
    int status;
  };
  const std::vector<Case> cases = {
      {png, "text/plain", "is not an image", 415},
      {"hello, world", "image/png", "not a PNG, JPEG or TIFF image (it starts with bytes 68 65 6c", 400},
      {png.substr(0, 120), "image/png", "image.png", 400},  // truncated: the decoder's reason, naming the upload
      {png, "image/jpeg", "the body is a PNG image but its Content-Type says JPEG", 400},
      {"", "image/png", "empty body", 400},
      {png, "application/x-www-form-urlencoded", "is not an image", 415},  // curl --data-binary without -H
  };
  for (const auto& k : cases) {
    r = c.Post("/v1/translate", auth, k.body, k.type.c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << k.type << " / " << k.expect << ": " << r->body;
    EXPECT_NE(error_message(r).find(k.expect), std::string::npos) << error_message(r);
    EXPECT_EQ(r->body.find("p2p-serve."), std::string::npos) << "a temp path in the reply: " << r->body;
  }
  r = c.Post("/v1/translate", auth, httplib::MultipartFormDataItems{{"file", png, "ok.png", "image/png"}});
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_message(r).find("field named \"image\""), std::string::npos) << error_message(r);
  r = c.Post("/v1/translate?model=nope", auth, png, "image/png");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_message(r).find("no model named 'nope' (this server has: tiny)"), std::string::npos);
  r = c.Get("/v2/translate", auth);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_message(r).find("no such endpoint"), std::string::npos);
  // Too large: with a declared length, and chunked (no length).
  const std::string big = read_file(dir + "/big.png");
  ASSERT_GT(big.size(), 0.1 * 1024 * 1024);
  r = c.Post("/v1/translate", auth, big, "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_message(r).find("--max_body_mb 0.1"), std::string::npos) << error_message(r);
  r = c.Post("/v1/translate", auth,
             [&](size_t offset, httplib::DataSink& sink) {
               if (offset < big.size()) {
                 const size_t n = std::min<size_t>(16384, big.size() - offset);
                 sink.write(big.data() + offset, n);
               } else {
                 sink.done();
               }
               return true;
             },
             "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  // After all that, a good request is answered.
  r = c.Post("/v1/translate", auth, png, "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const std::string metrics = c.Get("/metrics", auth)->body;
  EXPECT_NE(metrics.find("p2p_serve_requests_total{endpoint=\"translate\",outcome=\"too_large\"} 2\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("p2p_serve_requests_total{endpoint=\"translate\",outcome=\"unauthorized\"} 2\n"), std::string::npos)
      << metrics;
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServeApi, TokenFileAndBadServeFlagsAreRefusedWithMessages) {
  const std::string dir = scratch_dir("serve_flags");
  {
    std::ofstream(dir + "/token") << "from-a-file\n";
    ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --token_file '" + dir + "/token'");
    ASSERT_TRUE(server.running()) << server.output();
    httplib::Client c("127.0.0.1", server.port());
    EXPECT_EQ(c.Get("/v1/model")->status, 401);
    EXPECT_EQ(c.Get("/v1/model", bearer("from-a-file"))->status, 200);
  }
  const auto refused = [&](const std::string& args, const std::string& expect) {
    const CommandResult r = run_p2p("serve --checkpoints_dir '" + tiny_serve_run() + "' " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
  };
  refused("", "--name or --weights");
  refused("--name nothere", "nothere");
  refused("--name tiny --name tiny", "two models are named 'tiny'");
  refused("--name tiny --port 70000", "--port");
  refused("--name tiny --max_queue 0", "--max_queue");
  refused("--name tiny --token a --token_file '" + dir + "/token'", "give one of them");
  refused("--name tiny --palette nosuchpalette", "nosuchpalette");
  refused("--name tiny --tile 20", "--tile");
  // The port is taken.
  ServeProcess first("--name tiny --checkpoints_dir '" + tiny_serve_run() + "'");
  ASSERT_TRUE(first.running());
  refused("--name tiny --port " + std::to_string(first.port()), "cannot listen there");
}

TEST(ServeApi, SeveralModelsByNameAndThePaletteForThePage) {
  ServeProcess server("--name tiny --name other=tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --palette facades");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/v1/model?model=other");
  ASSERT_EQ(r->status, 200);
  const auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j.at("name"), "other");
  EXPECT_EQ(j.at("models"), (nlohmann::json{"tiny", "other"}));
  EXPECT_EQ(j.at("label_map"), true);
  ASSERT_EQ(j.at("palette").at("classes").size(), 12u) << "the 12 CMP facade classes";
  const std::string dir = scratch_dir("serve_models");
  write_random_png(dir + "/x.png", 32, 32, 3, 5);
  auto a = c.Post("/v1/translate?model=other", read_file(dir + "/x.png"), "image/png");
  auto b = c.Post("/v1/translate", read_file(dir + "/x.png"), "image/png");
  ASSERT_EQ(a->status, 200);
  EXPECT_EQ(a->get_header_value("X-P2P-Model"), "other");
  EXPECT_EQ(b->get_header_value("X-P2P-Model"), "tiny");
  EXPECT_TRUE(a->body == b->body) << "the same weights under two names";
}

TEST(ServeApi, SigtermFinishesAdmittedRequestsAndExitsZero) {
  const std::string dir = scratch_dir("serve_sigterm");
  write_random_png(dir + "/large.png", 1024, 1024, 3, 9);
  // The request waits 1.5 s for companions, so it is surely in flight when the signal comes.
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --batch_wait_ms 1500");
  ASSERT_TRUE(server.running()) << server.output();
  int reply_status = 0;
  std::string reply_body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(120);
    auto r = c.Post("/v1/translate", read_file(dir + "/large.png"), "image/png");
    if (r) reply_status = r->status, reply_body = r->body;
    else reply_body = httplib::to_string(r.error());
  });
  // Wait until the request is admitted (queue depth 1), then stop the server.
  ASSERT_TRUE(wait_for_queue_depth(server.port(), 1, 400)) << "the large request was never seen in the queue";
  const int status = server.stop(SIGTERM, 120);
  client.join();
  EXPECT_EQ(status, 0) << server.output();
  EXPECT_EQ(reply_status, 200) << "the admitted request was cut off: " << reply_body;
  EXPECT_GT(reply_body.size(), 1000u);
  EXPECT_NE(server.output().find("SIGTERM"), std::string::npos) << server.output();
  httplib::Client after("127.0.0.1", server.port());
  EXPECT_FALSE(after.Get("/healthz")) << "still accepting after SIGTERM";
}

TEST(ServeApi, ALabelMapRunsPageGetsTheColoursOfItsTrainingInputs) {
  const std::string facades = shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "../shared/datasets/facades is absent";
  const std::string dir = scratch_dir("serve_palette");
  // Labels -> photos (BtoA: the label maps are the inputs) and photos -> labels.
  for (const char* direction : {"BtoA", "AtoB"}) {
    const CommandResult t = run_p2p("train --dataroot '" + facades + "' --checkpoints_dir '" + dir + "' --name " + direction +
                                    " --direction " + direction + " --max_dataset_size 2 --n_epochs 1 --n_epochs_decay 0 "
                                    "--val_fraction 0" + std::string(kTinyRun));
    ASSERT_EQ(t.exit_code, 0) << t.output;
  }
  ServeProcess server("--name BtoA --name AtoB --checkpoints_dir '" + dir + "' --eval");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client c("127.0.0.1", server.port());
  const auto labels = nlohmann::json::parse(c.Get("/v1/model?model=BtoA")->body);
  ASSERT_EQ(labels.at("label_map"), true) << labels.dump(2);
  EXPECT_NE(labels.at("palette_source").get<std::string>().find("training inputs"), std::string::npos);
  // Every proposed colour is one of the 12 facade classes (the jet colours of the facades label maps, as
  // the built-in `facades` palette lists them), and nearly all of them are found.
  const std::vector<std::array<int, 3>> cmp = {{0, 0, 222},    {0, 48, 255},   {0, 128, 255}, {1, 207, 255},
                                               {32, 255, 224}, {112, 254, 142}, {192, 255, 63}, {255, 240, 1},
                                               {255, 159, 0},  {255, 80, 0},    {253, 1, 0},    {174, 0, 1}};
  std::set<size_t> found;
  for (const auto& k : labels.at("palette").at("classes")) {
    double best = 1e9;
    size_t at = 0;
    for (size_t i = 0; i < cmp.size(); ++i) {
      double d = 0;
      for (int ch = 0; ch < 3; ++ch) d += std::pow(k.at("color")[ch].get<double>() - cmp[i][ch], 2);
      if (d < best) best = d, at = i;
    }
    EXPECT_LT(std::sqrt(best), 12.0) << "proposed colour " << k.at("color").dump() << " is no facade class";
    found.insert(at);
  }
  EXPECT_GE(found.size(), 10u) << labels.at("palette").dump();
  // Photos as inputs: no palette (the page offers a free colour).
  const auto photos = nlohmann::json::parse(c.Get("/v1/model?model=AtoB")->body);
  EXPECT_EQ(photos.at("label_map"), false);
  EXPECT_TRUE(photos.at("palette").is_null());
}

TEST(ServeApi, SigtermWhileTheModelsLoadStopsTheServerOnceItIsUp) {
  // The signal comes after the first model is loaded, while 16 more load (each a few tens of ms): after the
  // handlers are installed and before the server listens.
  std::string more;
  for (int i = 0; i < 16; ++i) more += " --name m" + std::to_string(i) + "=tiny";
  ServeProcess server("--name tiny" + more + " --checkpoints_dir '" + tiny_serve_run() + "' --eval",
                      scratch_dir("serve_early"), /*wait_for=*/"model tiny:");
  ASSERT_GT(server.pid(), 0) << server.output();
  EXPECT_EQ(server.stop(SIGTERM, 30), 0) << "not stopped (or not cleanly) by a SIGTERM during start-up:\n"
                                        << server.output();
}
