// LPIPS v0.1 (AlexNet) distances and their folder report (see lpips.h). The trunk runs in float as the
// reference does; the head (normalisation, squared difference, weighting, means) runs in double, so
// the distance carries no rounding of its own beyond the features'.
#include "p2p/scores/lpips.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/data/pairing.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>

#include <map>
#include <sstream>

namespace p2p {

namespace {

// The reference's ScalingLayer: ImageNet statistics expressed in the [-1,1] range.
constexpr std::array<double, 3> kShift = {-0.030, -0.088, -0.188};
constexpr std::array<double, 3> kScale = {0.458, 0.448, 0.450};
// Added to the channel norm before dividing (lpips.normalize_tensor), so an all-zero feature stays 0.
constexpr double kNormEps = 1e-10;

std::string expected_lpips_file() {
  return std::string(" — expected the lpips package's ") + kLpipsAlexFile +
         " (pip install lpips, or github.com/richzhang/PerceptualSimilarity: lpips/" + kLpipsAlexFile +
         "; keys lin0..lin4.model.1.weight)";
}

std::array<at::Tensor, 5> read_lin_weights(const std::string& path, const c10::Device& device) {
  StateDict dict;
  try {
    dict = read_state_dict(path);
  } catch (const Error& e) {
    fail(std::string("LPIPS weights: ") + e.what() + expected_lpips_file());
  }
  std::map<std::string, at::Tensor> by_key(dict.begin(), dict.end());
  std::array<at::Tensor, 5> lin;
  for (size_t k = 0; k < lin.size(); ++k) {
    // model.1: model.0 is the Dropout in front of the 1x1 conv (inactive in eval mode).
    const std::string key = "lin" + std::to_string(k) + ".model.1.weight";
    const std::vector<int64_t> want = {1, AlexNetFeaturesImpl::kTapChannels[k], 1, 1};
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      fail("LPIPS weights " + path + ": missing key " + key + " (shape " + shape_str(want) + ")" + expected_lpips_file());
    }
    if (!it->second.sizes().equals(want)) {
      fail("LPIPS weights " + path + ": " + key + " has shape " + shape_str(it->second.sizes()) + ", expected " +
           shape_str(want) + expected_lpips_file());
    }
    if (!at::isFloatingType(it->second.scalar_type())) {
      fail("LPIPS weights " + path + ": " + key + " is not floating point" + expected_lpips_file());
    }
    lin[k] = it->second.to(device, at::kDouble);
  }
  return lin;
}

// cuDNN convolutions default to TF32 on Ampere and later (LibTorch 1.13: allowTF32CuDNN), about 1e-3
// relative: too coarse for a score compared across papers and machines. Turned off for the trunk's pass
// and restored after (a process-wide flag: scores are not computed while another thread trains).
class FullPrecisionConvolutions {
 public:
  explicit FullPrecisionConvolutions(bool on_cuda) : saved_(at::globalContext().allowTF32CuDNN()), active_(on_cuda) {
    if (active_) at::globalContext().setAllowTF32CuDNN(false);
  }
  ~FullPrecisionConvolutions() {
    if (active_) at::globalContext().setAllowTF32CuDNN(saved_);
  }
  FullPrecisionConvolutions(const FullPrecisionConvolutions&) = delete;
  FullPrecisionConvolutions& operator=(const FullPrecisionConvolutions&) = delete;

 private:
  bool saved_, active_;
};

// f: [N,C,H,W] double -> f / (||f||_C + eps), the norm over channels per pixel.
at::Tensor unit_normalise(const at::Tensor& f) { return f / (f.pow(2).sum(1, /*keepdim=*/true).sqrt() + kNormEps); }

}  // namespace

Lpips::Lpips(const std::string& alexnet_path, const std::string& lpips_path, const c10::Device& device)
    : device_(device) {
  // The small file first: a wrong lpips path is reported before the 233 MB AlexNet file is read.
  lin_ = read_lin_weights(lpips_path, device_);
  net_ = load_alexnet_features(alexnet_path, device_);
  shift_ = at::tensor(std::vector<double>(kShift.begin(), kShift.end())).view({1, 3, 1, 1}).to(device_, at::kFloat);
  scale_ = at::tensor(std::vector<double>(kScale.begin(), kScale.end())).view({1, 3, 1, 1}).to(device_, at::kFloat);
}

at::Tensor Lpips::layer_distances(const at::Tensor& a, const at::Tensor& b) const {
  if (a.dim() != 4 || a.size(1) != 3 || !a.sizes().equals(b.sizes())) {
    fail("LPIPS: expected two RGB image batches [N,3,H,W] of the same shape, got " + shape_str(a.sizes()) + " and " +
         shape_str(b.sizes()));
  }
  at::NoGradGuard no_grad;
  const int64_t n = a.size(0);
  // One trunk pass for both sides; the reference runs them separately, which is the same per image.
  at::Tensor x = at::cat({a, b}).to(device_, at::kFloat);
  x = ((x * 2 - 1) - shift_) / scale_;
  std::vector<at::Tensor> taps;
  {
    FullPrecisionConvolutions full(device_.is_cuda());
    taps = net_.ptr()->forward(x);
  }
  std::vector<at::Tensor> per_tap;
  for (size_t k = 0; k < taps.size(); ++k) {
    const at::Tensor f = taps[k].to(at::kDouble);
    const at::Tensor diff = (unit_normalise(f.narrow(0, 0, n)) - unit_normalise(f.narrow(0, n, n))).pow(2);
    // The 1x1 conv without bias, then the spatial mean.
    per_tap.push_back((diff * lin_[k]).sum(1).mean({1, 2}));
  }
  return at::stack(per_tap, 1).cpu();
}

std::vector<double> Lpips::distances(const at::Tensor& a, const at::Tensor& b) const {
  const at::Tensor d = layer_distances(a, b).sum(1).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

double Lpips::distance(const at::Tensor& a, const at::Tensor& b) const {
  if (a.dim() != 3 || b.dim() != 3) {
    fail("LPIPS: expected two RGB images [3,H,W], got " + shape_str(a.sizes()) + " and " + shape_str(b.sizes()));
  }
  return distances(a.unsqueeze(0), b.unsqueeze(0)).at(0);
}

LpipsReport lpips_folders(const std::string& pred_dir, const std::string& target_dir, const Lpips& lpips) {
  LpipsReport report;
  for (const PairRecord& pair : pair_outputs_by_stem(pred_dir, target_dir)) {
    const at::Tensor p = load_image(pair.a_path, 3);
    const at::Tensor t = load_image(pair.b_path, 3);
    check_pair_sizes(pair, p, t);
    try {
      report.per_image.emplace_back(pair.stem, lpips.distance(p, t));
    } catch (const Error& e) {
      fail(pair.a_path + " and " + pair.b_path + ": " + e.what());
    }
    report.mean += report.per_image.back().second;
  }
  report.mean /= static_cast<double>(report.per_image.size());
  return report;
}

}  // namespace p2p
