// The embeddable API with a CycleGAN run: Options::generator picks G_A (the default) or G_B, whose
// channels are swapped; outputs equal a direct forward of the run's weights (1e-5, float32 in and out).
#include <pix2pix/pix2pix.h>

#include "p2p/io/image.h"
#include "testutil/cycle_run.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

// Runs the API on a [C,H,W] tensor in [0,1]; returns [C',H,W] in [0,1].
at::Tensor api_translate(const pix2pix::Translator& t, const at::Tensor& unit) {
  pix2pix::Image in;
  in.channels = unit.size(0);
  in.height = unit.size(1);
  in.width = unit.size(2);
  const at::Tensor hwc = unit.permute({1, 2, 0}).contiguous();
  in.pixels.assign(hwc.data_ptr<float>(), hwc.data_ptr<float>() + hwc.numel());
  const pix2pix::Image out = t.translate(in);
  return at::tensor(out.pixels).reshape({out.height, out.width, out.channels}).permute({2, 0, 1});
}

TEST(CycleApi, OptionsGeneratorPicksGAOrGB) {
  const test::CycleRun run = test::write_cycle_run(test::scratch_dir("cycle_api"), "cyc");
  pix2pix::Options o;
  o.eval = true;
  const pix2pix::Translator t_A(run.dir, o);
  EXPECT_EQ(t_A.input_channels(), 1);
  const at::Tensor a = at::rand({1, 32, 32});
  const double d_A = (api_translate(t_A, a) - to_unit_range(test::forward_one(*run.G_A, a * 2 - 1))).abs().max().item<double>();
  EXPECT_LE(d_A, 1e-5);
  o.generator = "G_B";
  const pix2pix::Translator t_B(run.dir, o);
  EXPECT_EQ(t_B.input_channels(), 3);
  EXPECT_EQ(t_B.output_channels(), 1);
  const at::Tensor b = at::rand({3, 32, 32});
  const double d_B = (api_translate(t_B, b) - to_unit_range(test::forward_one(*run.G_B, b * 2 - 1))).abs().max().item<double>();
  EXPECT_LE(d_B, 1e-5);
  std::cout << "[ api ] max diff G_A " << d_A << ", G_B " << d_B << "\n";
  o.generator = "G";
  try {
    pix2pix::Translator bad(run.dir, o);
    ADD_FAILURE() << "G of a CycleGAN run loaded";
  } catch (const pix2pix::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Options::generator G: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace p2p
