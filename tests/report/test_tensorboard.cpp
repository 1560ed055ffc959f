// Tests for report/tensorboard: CRC-32C known answers, and event files read back by an independent
// reader (tests/report/read_tfevents.py: framing CRCs checked with python3-crc32c, records decoded with
// python3-protobuf from event.proto's field numbers) with the right tags, steps and values.
#include "p2p/report/tensorboard.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

nlohmann::json read_events(const std::string& file) {
  const test::CommandResult r = test::run_python_script("report/read_tfevents.py", "'" + file + "'");
  if (r.exit_code != 0) return nlohmann::json{{"error", r.output}};
  return nlohmann::json::parse(r.output);
}

TEST(TensorBoard, Crc32cKnownAnswers) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the standard check value of CRC-32C
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
}

TEST(TensorBoard, IndependentReaderSeesScalarsAndImages) {
  ASSERT_TRUE(test::python_can_import("crc32c, google.protobuf", "python3-crc32c python3-protobuf"));
  const std::string dir = test::scratch_dir("tensorboard_events");
  const std::string png = dir + "/sample.png";
  test::write_random_png(png, 48, 16, 3, 7);
  std::string path;
  {
    EventWriter w(dir + "/tb");
    path = w.path();
    EXPECT_NE(fs::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
    w.scalar("train/G_L1", 0.25, 1);
    w.scalar("val/psnr", 14.5, 2);
    w.image_file("samples/a", png, 2);
    w.flush();
  }
  const nlohmann::json ev = read_events(path);
  ASSERT_TRUE(ev.is_array()) << ev.dump();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0]["file_version"], "brain.Event:2");
  EXPECT_GT(ev[0]["wall_time"].get<double>(), 1.6e9);
  EXPECT_EQ(ev[1]["step"], 1);
  EXPECT_EQ(ev[1]["values"][0]["tag"], "train/G_L1");
  EXPECT_EQ(ev[1]["values"][0]["simple_value"], 0.25);
  EXPECT_EQ(ev[2]["step"], 2);
  EXPECT_EQ(ev[2]["values"][0]["simple_value"], 14.5);
  const nlohmann::json& img = ev[3]["values"][0];
  EXPECT_EQ(img["tag"], "samples/a");
  EXPECT_EQ(img["image"]["width"], 48);
  EXPECT_EQ(img["image"]["height"], 16);
  EXPECT_EQ(img["image"]["colorspace"], 3);
  EXPECT_EQ(img["image"]["bytes"], static_cast<int64_t>(fs::file_size(png)));
  EXPECT_TRUE(img["image"]["png"].get<bool>());

  // The reader is not a rubber stamp: one flipped byte in a record fails its CRC.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path)) - 10);
    f.put('\x5a');
  }
  EXPECT_NE(read_events(path).dump().find("CRC mismatch"), std::string::npos);
  std::ofstream(dir + "/fake.png") << "not a png at all, but long enough to have a header";
  EXPECT_NE(test::error_of([&] { EventWriter(dir + "/tb2").image_file("x", dir + "/fake.png", 0); }).find("not a PNG"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { EventWriter(dir + "/tb3").image_file("x", dir + "/tb", 0); }).find("not a readable"),
            std::string::npos);
}

TEST(TensorBoard, EpochRecordBecomesTaggedEvents) {
  ASSERT_TRUE(test::python_can_import("crc32c, google.protobuf", "python3-crc32c python3-protobuf"));
  const std::string dir = test::scratch_dir("tensorboard_epoch");
  fs::create_directories(dir + "/samples");
  test::write_random_png(dir + "/samples/epoch_003_b.png", 96, 32, 3, 1);
  test::write_random_png(dir + "/samples/epoch_003_a.png", 96, 32, 3, 2);
  test::write_random_png(dir + "/samples/epoch_002_a.png", 96, 32, 3, 3);  // another epoch: not logged
  const nlohmann::json record = nlohmann::json::parse(
      R"({"epoch":3,"iters":30,"lr_G":0.0002,"lr_D":0.0001,"images_per_s":12.5,"seconds":2.0,
          "train":{"G_GAN":1.5,"G_L1":0.375},"val":{"l1":0.3,"psnr":15.25},"weights":{"L1":100.0}})");
  std::string path;
  {
    EventWriter w(dir + "/tb");
    path = w.path();
    write_epoch_events(w, record, dir + "/samples");
  }
  const nlohmann::json ev = read_events(path);
  ASSERT_TRUE(ev.is_array()) << ev.dump();
  std::map<std::string, nlohmann::json> by_tag;
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["step"], 3);
    by_tag[ev[i]["values"][0]["tag"]] = ev[i]["values"][0];
  }
  EXPECT_EQ(by_tag.size(), 10u);
  EXPECT_EQ(by_tag["train/G_GAN"]["simple_value"], 1.5);
  EXPECT_EQ(by_tag["train/G_L1"]["simple_value"], 0.375);
  EXPECT_EQ(by_tag["val/psnr"]["simple_value"], 15.25);
  EXPECT_NEAR(by_tag["val/l1"]["simple_value"].get<double>(), 0.3, 1e-7);  // stored as float
  EXPECT_NEAR(by_tag["lr/G"]["simple_value"].get<double>(), 0.0002, 1e-10);
  EXPECT_EQ(by_tag["weight/L1"]["simple_value"], 100.0);
  EXPECT_EQ(by_tag["speed/images_per_s"]["simple_value"], 12.5);
  EXPECT_EQ(by_tag["samples/a"]["image"]["width"], 96);
  EXPECT_TRUE(by_tag.count("samples/b"));
  EXPECT_TRUE(by_tag.count("lr/D"));
}

}  // namespace
}  // namespace p2p
