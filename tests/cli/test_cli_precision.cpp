// End-to-end tests of --precision: refused (bf16) or settled on fp32 (auto) where the CPU has no native
// bf16, with messages that say why; on a CPU with it, a bf16 run records its precision and keeps fp32
// checkpoints, and bf16 translation stays within bf16's rounding of fp32 translation.
#include "p2p/core/cpu_features.h"
#include "p2p/core/precision.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace p2p {
namespace {

namespace fs = std::filesystem;

using p2p::test::HiddenBf16;

TEST(CliPrecision, WithoutNativeBf16Bf16IsRefusedAndAutoRunsFp32) {
  const HiddenBf16 hidden;
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_prec_data"), 2, 0);
  const std::string ck = test::scratch_dir("cli_prec_ck");
  const auto refused = test::run_p2p(test::tiny_train_command(root, ck, "run", "--precision bf16"));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("--precision bf16: this CPU has no native bf16 instructions (avx512_bf16 or AMX)"),
            std::string::npos)
      << refused.output;
  EXPECT_FALSE(fs::exists(ck + "/run/latest.pt"));
  const auto bad = test::run_p2p("bench --netG unet_32 --ngf 8 --crop_size 32 --steps 1 --warmup 0 --precision fp16");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--precision"), std::string::npos) << bad.output;
  const auto fallback = test::run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --precision auto");
  ASSERT_EQ(fallback.exit_code, 0) << fallback.output;
  EXPECT_NE(fallback.output.find("note: precision fp32 (auto: this CPU has no avx512_bf16 or AMX)"), std::string::npos)
      << fallback.output;
  EXPECT_NE(fallback.output.find("\"precision\":\"fp32\""), std::string::npos) << fallback.output;
}

// P2P_CPU_ISA=avx2 runs the program as on an AVX2-only CPU: no bf16 (refused, auto settles on fp32), and
// training still runs (the thin products' AVX2 build). A value it does not know stops every command
// before it starts, naming the variable.
TEST(CliPrecision, AnAvx2CapHidesBf16AndAnUnknownCapIsRefused) {
  {
    const test::CappedIsa avx2("avx2");
    const auto refused = test::run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --precision bf16");
    EXPECT_NE(refused.exit_code, 0) << refused.output;
    EXPECT_NE(refused.output.find("--precision bf16: this CPU has no native bf16"), std::string::npos) << refused.output;
    const auto fallback = test::run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --precision auto");
    ASSERT_EQ(fallback.exit_code, 0) << fallback.output;
    EXPECT_NE(fallback.output.find("note: precision fp32 (auto: this CPU has no avx512_bf16 or AMX)"), std::string::npos)
        << fallback.output;
    if (cpu_isa() >= CpuIsa::kAvx2) {
      EXPECT_NE(fallback.output.find("\"cpu_isa\":\"avx2\""), std::string::npos) << fallback.output;
    }
  }
  const test::CappedIsa bad("avx1024");
  const auto refused = test::run_p2p("info --netG unet_32 --ngf 8 --crop_size 32");  // runs no kernel of ours
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("P2P_CPU_ISA=avx1024: expected avx512, avx2 or baseline"), std::string::npos)
      << refused.output;
}

// 8-bit outputs of a tanh generator: bf16 rounding moves a pixel by a few levels at most (bound: 0.05 of
// the range, 13 levels; mean under 2.5), where a wrong layer would move it by the whole range.
TEST(CliPrecision, Bf16RunRecordsItsPrecisionKeepsFp32WeightsAndTranslatesClose) {
  if (cpu_bf16_instructions().empty()) GTEST_SKIP() << "this CPU has no native bf16 instructions";
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_prec16_data"), 3, 0);
  const std::string ck = test::scratch_dir("cli_prec16_ck");
  const auto train = test::run_p2p(test::tiny_train_command(root, ck, "run", "--precision bf16"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("threads, bf16)"), std::string::npos) << train.output;  // the start line says so
  std::ifstream config(ck + "/run/config.json");
  const nlohmann::json c = nlohmann::json::parse(config);
  EXPECT_EQ(c.at("train").at("precision"), "bf16");
  const StateDict saved = read_state_dict(ck + "/run/latest.pt");
  ASSERT_FALSE(saved.empty());
  for (const auto& [name, t] : saved) {
    if (t.is_floating_point()) {
      EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
    }
  }
  // The same run in fp32 (same seed, same batches): its weights differ from the bf16 run's (the trainer's
  // steps ran in bf16) but only by a few Adam steps' worth of rounding.
  const auto fp32 = test::run_p2p(test::tiny_train_command(root, ck, "run32"));
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  const StateDict saved32 = read_state_dict(ck + "/run32/latest.pt");
  ASSERT_EQ(saved32.size(), saved.size());
  double largest = 0, sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < saved.size(); ++i) {
    if (saved[i].first.rfind("G.", 0) != 0 || !saved[i].second.is_floating_point()) continue;
    ASSERT_EQ(saved[i].first, saved32[i].first);
    const at::Tensor d = (saved[i].second - saved32[i].second).abs();
    largest = std::max(largest, d.max().item<double>());
    sum += d.sum().item<double>();
    count += d.numel();
  }
  ASSERT_GT(count, 0);
  EXPECT_GT(largest, 0.0) << "the bf16 run trained exactly like the fp32 run";
  EXPECT_LT(sum / count, 1e-3);  // 3 steps at lr 2e-4
  const std::string dir = test::scratch_dir("cli_prec16");
  fs::create_directories(dir + "/in");
  test::write_random_png(dir + "/in/a.png", 48, 40, 3, 9);
  at::Tensor out[2];
  int k = 0;
  for (const std::string p : {"fp32", "bf16"}) {
    const auto r = test::run_p2p("translate --name run --checkpoints_dir '" + ck + "' --eval --precision " + p +
                                 " --input '" + dir + "/in' --output '" + dir + "/out_" + p + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    out[k++] = load_image(dir + "/out_" + p + "/a.png", 3);
  }
  const at::Tensor diff = (out[0] - out[1]).abs() * 255;
  EXPECT_LE(diff.max().item<double>(), 13.0);
  EXPECT_LT(diff.mean().item<double>(), 2.5);
  EXPECT_GT(diff.max().item<double>(), 0.5) << "bf16 translation equals fp32 to the bit: bf16 did not run";
}

// `bench --profile` writes a Chrome trace of the timed steps with the step's phases marked, which
// bench/profile_step.py sums by kind of work (convolutions found, milliseconds per step positive); a
// trace path that cannot be written is refused before any work.
TEST(CliPrecision, BenchProfileTraceIsSummedByKindOfWork) {
  const std::string dir = test::scratch_dir("cli_profile");
  const auto r = test::run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 2 --warmup 1 --profile '" +
                               dir + "/trace.json'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json trace = nlohmann::json::parse(test::read_file(dir + "/trace.json"));
  ASSERT_TRUE(trace.is_array());
  int steps = 0, convolutions = 0;
  for (const auto& e : trace) {
    steps += e.at("name") == "p2p::G_step";
    convolutions += e.at("name").get<std::string>().find("convolution") != std::string::npos;
  }
  EXPECT_EQ(steps, 2);  // the timed steps only, not the warm-up
  EXPECT_GT(convolutions, 10);
  const auto summed = test::run_command(std::string(P2P_TEST_PYTHON) + " " + P2P_TEST_SOURCE_DIR +
                                        "/bench/profile_step.py '" + dir + "/trace.json' --steps 2");
  ASSERT_EQ(summed.exit_code, 0) << summed.output;
  const size_t row = summed.output.find("| convolution | ");
  ASSERT_NE(row, std::string::npos) << summed.output;
  EXPECT_GT(std::stod(summed.output.substr(row + 16)), 0.0) << summed.output;
  EXPECT_NE(summed.output.find("| p2p::G_step | "), std::string::npos) << summed.output;
  const auto refused = test::run_p2p("bench --netG unet_32 --ngf 8 --crop_size 32 --steps 1 --profile '" + dir +
                                     "/missing/trace.json'");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("--profile " + dir + "/missing/trace.json: cannot write"), std::string::npos)
      << refused.output;
}

}  // namespace
}  // namespace p2p
