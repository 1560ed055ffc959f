// FID and KID (see fid.h): running feature moments, the Fréchet distance through symmetric
// eigendecompositions (LibTorch has no sqrtm), torch-fidelity's KID estimator and subset draws, and
// pytorch-fid's .npz statistics files.
#include "p2p/scores/fid.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/npz.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

namespace p2p {
namespace {

constexpr int64_t kFlushRows = 256;  // rows gathered before one rank-k update of the sums

at::Tensor symmetric(const at::Tensor& s) { return (s + s.t()) * 0.5; }

// Tr sqrtm(S1 S2) = sum sqrt(eig(R S2 R)) with R = sqrt(S1) = V diag(sqrt w) V^T (eigh of S1): S1 S2 =
// R (R S2), and swapping the factors keeps the eigenvalues (the zero ones of a singular S1 too), so the
// non-symmetric square root scipy computes is avoided. With A = diag(sqrt w) V^T, R S2 R = V (A S2 A^T) V^T
// has the eigenvalues of A S2 A^T, whose rows for eigenvalues of S1 at rounding level (below
// d * eps * max w, numpy's matrix_rank tolerance; negative ones included) are dropped: for a covariance
// of fewer samples than dimensions that leaves a small matrix, and what is dropped is below the precision
// of the input.
double trace_sqrt_product(const at::Tensor& s1, const at::Tensor& s2) {
  auto [w, v] = at::linalg_eigh(s1);
  const double tol = static_cast<double>(s1.size(0)) * std::numeric_limits<double>::epsilon() *
                     std::max(w.max().item<double>(), 0.0);
  const at::Tensor keep = (w > tol).nonzero().flatten();
  if (keep.numel() == 0) return 0.0;
  const at::Tensor a = v.index_select(1, keep).t() * w.index_select(0, keep).sqrt().unsqueeze(1);  // [r, d]
  const at::Tensor m = symmetric(a.mm(s2).mm(a.t()));
  return at::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
}

double frechet(const at::Tensor& mu1, const at::Tensor& s1, const at::Tensor& mu2, const at::Tensor& s2) {
  const at::Tensor diff = mu1 - mu2;
  return diff.dot(diff).item<double>() + s1.trace().item<double>() + s2.trace().item<double>() -
         2 * trace_sqrt_product(s1, s2);
}

// numpy's legacy random_interval: a uniform integer in [0, max] by masked rejection of 32-bit draws.
uint64_t random_interval(std::mt19937& gen, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int s : {1, 2, 4, 8, 16, 32}) mask |= mask >> s;
  uint64_t v;
  do {
    v = static_cast<uint64_t>(gen()) & mask;
  } while (v > max);
  return v;
}

// RandomState.choice(n, m, replace=False): permutation(n)[:m], the permutation a Fisher-Yates shuffle of
// arange(n) from the last element down.
std::vector<int64_t> choice_without_replacement(std::mt19937& gen, int64_t n, int64_t m) {
  std::vector<int64_t> a(static_cast<size_t>(n));
  std::iota(a.begin(), a.end(), int64_t{0});
  for (int64_t i = n - 1; i >= 1; --i) {
    std::swap(a[static_cast<size_t>(i)], a[random_interval(gen, static_cast<uint64_t>(i))]);
  }
  a.resize(static_cast<size_t>(m));
  return a;
}

// The polynomial kernel (x.y / dim + 1)^3 from a block of dot products.
at::Tensor cubic_kernel(const at::Tensor& dots, int64_t dim) { return (dots / static_cast<double>(dim) + 1).pow(3); }

double mmd2_from_kernels(const at::Tensor& kxx, const at::Tensor& kyy, const at::Tensor& kxy) {
  const double m = static_cast<double>(kxx.size(0));
  const double off_xx = kxx.sum().item<double>() - kxx.diagonal().sum().item<double>();
  const double off_yy = kyy.sum().item<double>() - kyy.diagonal().sum().item<double>();
  return (off_xx + off_yy) / (m * (m - 1)) - 2 * kxy.sum().item<double>() / (m * m);
}

at::Tensor as_features(const at::Tensor& f, const char* which) {
  if (!f.defined() || f.dim() != 2) {
    fail(std::string("KID: ") + which + " must be features [n, dim], got " +
         (f.defined() ? shape_str(f.sizes()) : "none"));
  }
  return f.detach().to(at::kCPU, at::kDouble).contiguous();
}

at::Tensor index(const std::vector<int64_t>& idx) { return at::tensor(idx, at::kLong); }

}  // namespace

// ---- accumulator ---------------------------------------------------------------------------------

FeatureAccumulator::FeatureAccumulator(int64_t dim, bool keep_features) : dim_(dim), keep_(keep_features) {
  TORCH_CHECK(dim > 0, "FeatureAccumulator: dim must be positive");
}

void FeatureAccumulator::add(const at::Tensor& features) {
  at::Tensor x = features.detach();
  if (x.dim() == 1) x = x.unsqueeze(0);
  if (x.dim() != 2 || x.size(1) != dim_) {
    fail("FID features must be [n, " + std::to_string(dim_) + "], got " + shape_str(features.sizes()));
  }
  if (x.size(0) == 0) return;
  x = x.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(x).all().item<bool>()) fail("FID: the Inception features hold NaN or Inf (are the images valid?)");
  if (count_ == 0) {
    shift_ = x[0].clone();
    sum_ = at::zeros({dim_}, at::kDouble);
    sum_outer_ = at::zeros({dim_, dim_}, at::kDouble);
  }
  if (keep_) kept_.push_back(x.to(at::kFloat));
  pending_.push_back(x - shift_);
  pending_rows_ += x.size(0);
  count_ += x.size(0);
  if (pending_rows_ >= kFlushRows) flush();
}

void FeatureAccumulator::flush() const {
  if (pending_.empty()) return;
  const at::Tensor x = at::cat(pending_, 0);
  sum_ += x.sum(0);
  sum_outer_.addmm_(x.t(), x);
  pending_.clear();
  pending_rows_ = 0;
}

FidStatistics FeatureAccumulator::statistics() const {
  if (count_ < 2) {
    fail("FID statistics need at least 2 images (a covariance), got " + std::to_string(count_));
  }
  flush();
  const double n = static_cast<double>(count_);
  const at::Tensor d = sum_ / n;
  FidStatistics s;
  s.count = count_;
  s.mu = shift_ + d;
  s.sigma = symmetric((sum_outer_ - at::outer(d, d) * n) / (n - 1));
  s.features = features();
  return s;
}

at::Tensor FeatureAccumulator::features() const {
  if (!keep_) return {};
  if (kept_.empty()) return at::zeros({0, dim_}, at::kFloat);
  return at::cat(kept_, 0);
}

// ---- FID -----------------------------------------------------------------------------------------

double fid(const at::Tensor& mu1_in, const at::Tensor& sigma1_in, const at::Tensor& mu2_in,
           const at::Tensor& sigma2_in) {
  for (const at::Tensor* t : {&mu1_in, &sigma1_in, &mu2_in, &sigma2_in}) {
    if (!t->defined()) fail("FID: a mean or covariance is missing");
  }
  const int64_t d = mu1_in.numel();
  const std::vector<int64_t> square = {d, d};
  if (mu1_in.dim() != 1 || mu2_in.dim() != 1 || mu2_in.numel() != d || sigma1_in.sizes() != at::IntArrayRef(square) ||
      sigma2_in.sizes() != at::IntArrayRef(square)) {
    fail("FID: the statistics do not fit each other: mu1 " + shape_str(mu1_in.sizes()) + ", sigma1 " +
         shape_str(sigma1_in.sizes()) + ", mu2 " + shape_str(mu2_in.sizes()) + ", sigma2 " +
         shape_str(sigma2_in.sizes()) + " (expected [d] and [d, d] for one d, e.g. 2048 for pool3 features)");
  }
  auto prep = [](const at::Tensor& t) { return t.detach().to(at::kCPU, at::kDouble); };
  const at::Tensor mu1 = prep(mu1_in), mu2 = prep(mu2_in);
  const at::Tensor s1 = symmetric(prep(sigma1_in)), s2 = symmetric(prep(sigma2_in));
  for (const at::Tensor* t : {&mu1, &mu2, &s1, &s2}) {
    if (!at::isfinite(*t).all().item<bool>()) fail("FID: the statistics hold NaN or Inf");
  }
  double value = frechet(mu1, s1, mu2, s2);
  if (!std::isfinite(value)) {
    // pytorch-fid's fallback for a product that is singular to working precision.
    const at::Tensor offset = at::eye(d, at::kDouble) * 1e-6;
    value = frechet(mu1, s1 + offset, mu2, s2 + offset);
  }
  if (!std::isfinite(value)) fail("FID: the result is not finite even with 1e-6 added to the covariances' diagonal");
  return value;
}

double fid(const FidStatistics& a, const FidStatistics& b) { return fid(a.mu, a.sigma, b.mu, b.sigma); }

// ---- KID -----------------------------------------------------------------------------------------

KidSubsets kid_subsets(int64_t n1, int64_t n2, int subsets, int64_t m, uint64_t seed) {
  if (seed > 0xFFFFFFFFull) {
    fail("KID: the seed must be below 2^32, as numpy's RandomState requires; got " + std::to_string(seed));
  }
  if (m > n1 || m > n2 || m < 1) {
    fail("KID: subsets of " + std::to_string(m) + " cannot be drawn from sets of " + std::to_string(n1) + " and " +
         std::to_string(n2));
  }
  std::mt19937 gen(static_cast<uint32_t>(seed));  // RandomState(seed) seeds MT19937 with init_genrand(seed)
  KidSubsets out;
  for (int i = 0; i < subsets; ++i) {
    std::vector<int64_t> a = choice_without_replacement(gen, n1, m);
    std::vector<int64_t> b = choice_without_replacement(gen, n2, m);
    out.emplace_back(std::move(a), std::move(b));
  }
  return out;
}

double mmd2_unbiased(const at::Tensor& x_in, const at::Tensor& y_in) {
  const at::Tensor x = as_features(x_in, "set 1"), y = as_features(y_in, "set 2");
  if (x.size(0) != y.size(0) || x.size(1) != y.size(1) || x.size(0) < 2) {
    fail("KID: MMD^2 needs two sets of the same size (at least 2) and dim, got " + shape_str(x.sizes()) + " and " +
         shape_str(y.sizes()));
  }
  const int64_t dim = x.size(1);
  return mmd2_from_kernels(cubic_kernel(x.mm(x.t()), dim), cubic_kernel(y.mm(y.t()), dim),
                           cubic_kernel(x.mm(y.t()), dim));
}

KidResult kid_on_subsets(const at::Tensor& features1, const at::Tensor& features2, const KidSubsets& subsets) {
  const at::Tensor f1 = as_features(features1, "set 1"), f2 = as_features(features2, "set 2");
  if (f1.size(1) != f2.size(1)) {
    fail("KID: the feature sets differ in dim: " + shape_str(f1.sizes()) + " and " + shape_str(f2.sizes()));
  }
  if (subsets.empty()) fail("KID: no subsets");
  const int64_t m = static_cast<int64_t>(subsets.front().first.size());
  if (m < 2) fail("KID: subsets need at least 2 images each, got " + std::to_string(m));
  const int64_t n1 = f1.size(0), n2 = f2.size(0), dim = f1.size(1);
  // Dot products of all pairs once, when that is cheaper than per subset and fits in 1 GiB.
  const double all_pairs = static_cast<double>(n1 * n1 + n2 * n2 + n1 * n2);
  const bool gram = all_pairs <= 3.0 * static_cast<double>(subsets.size()) * static_cast<double>(m * m) &&
                    all_pairs * 8 <= 1024.0 * 1024 * 1024;
  at::Tensor g11, g22, g12;
  if (gram) {
    g11 = f1.mm(f1.t());
    g22 = f2.mm(f2.t());
    g12 = f1.mm(f2.t());
  }
  std::vector<double> mmds;
  for (const auto& [i1, i2] : subsets) {
    if (static_cast<int64_t>(i1.size()) != m || static_cast<int64_t>(i2.size()) != m) {
      fail("KID: subsets differ in size");
    }
    const at::Tensor a = index(i1), b = index(i2);
    if (a.min().item<int64_t>() < 0 || a.max().item<int64_t>() >= n1 || b.min().item<int64_t>() < 0 ||
        b.max().item<int64_t>() >= n2) {
      fail("KID: a subset index lies outside its feature set");
    }
    if (gram) {
      mmds.push_back(mmd2_from_kernels(cubic_kernel(g11.index_select(0, a).index_select(1, a), dim),
                                       cubic_kernel(g22.index_select(0, b).index_select(1, b), dim),
                                       cubic_kernel(g12.index_select(0, a).index_select(1, b), dim)));
    } else {
      const at::Tensor x = f1.index_select(0, a), y = f2.index_select(0, b);
      mmds.push_back(mmd2_from_kernels(cubic_kernel(x.mm(x.t()), dim), cubic_kernel(y.mm(y.t()), dim),
                                       cubic_kernel(x.mm(y.t()), dim)));
    }
  }
  KidResult r;
  r.subsets = static_cast<int>(mmds.size());
  r.subset_size = m;
  r.mean = std::accumulate(mmds.begin(), mmds.end(), 0.0) / static_cast<double>(mmds.size());
  double var = 0;
  for (double v : mmds) var += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(var / static_cast<double>(mmds.size()));
  return r;
}

KidResult kid(const at::Tensor& features1, const at::Tensor& features2, int subsets, int64_t subset_size,
              uint64_t seed) {
  const at::Tensor f1 = as_features(features1, "set 1"), f2 = as_features(features2, "set 2");
  const int64_t n = std::min(f1.size(0), f2.size(0));
  if (n < 2) {
    fail("KID needs at least 2 images in each set, got " + std::to_string(f1.size(0)) + " and " +
         std::to_string(f2.size(0)));
  }
  if (subsets < 1 || subset_size < 2) {
    fail("KID: subsets (" + std::to_string(subsets) + ") must be >= 1 and the subset size (" +
         std::to_string(subset_size) + ") >= 2");
  }
  const int64_t m = std::min(subset_size, n);
  KidResult r = kid_on_subsets(f1, f2, kid_subsets(f1.size(0), f2.size(0), subsets, m, seed));
  if (m < subset_size) {
    r.note =
        "KID subsets hold " + std::to_string(m) + " images, not " + std::to_string(subset_size) +
        ": the smaller set has only " + std::to_string(n) +
        " (clamped as clean-fid does; torch-fidelity refuses); values from different subset sizes are not comparable";
  }
  return r;
}

// ---- files ---------------------------------------------------------------------------------------

void save_fid_statistics(const std::string& path, const FidStatistics& stats) {
  if (!stats.mu.defined() || !stats.sigma.defined()) fail(path + ": no statistics to save (mu and sigma are empty)");
  NpzArrays arrays = {{"mu", stats.mu.to(at::kCPU, at::kDouble)}, {"sigma", stats.sigma.to(at::kCPU, at::kDouble)}};
  if (stats.features.defined()) arrays.emplace_back("features", stats.features.to(at::kCPU, at::kFloat));
  write_npz(path, arrays);
}

FidStatistics load_fid_statistics(const std::string& path) {
  const NpzArrays arrays = read_npz(path);
  const std::string expected =
      " — expected FID statistics as pytorch-fid saves them (--save-stats: mu [d], sigma [d, d])";
  const at::Tensor& mu = npz_get(arrays, "mu", path);
  const at::Tensor& sigma = npz_get(arrays, "sigma", path);
  if (!at::isFloatingType(mu.scalar_type()) || !at::isFloatingType(sigma.scalar_type())) {
    fail(path + ": mu and sigma must be floating point" + expected);
  }
  const int64_t d = mu.numel();
  if (mu.dim() != 1 || sigma.sizes() != at::IntArrayRef(std::vector<int64_t>{d, d})) {
    fail(path + ": mu has shape " + shape_str(mu.sizes()) + " and sigma " + shape_str(sigma.sizes()) + expected);
  }
  FidStatistics s;
  s.mu = mu.to(at::kDouble);
  s.sigma = sigma.to(at::kDouble);
  for (const auto& [name, t] : arrays) {
    if (name != "features") continue;
    if (t.dim() != 2 || t.size(1) != d || !at::isFloatingType(t.scalar_type())) {
      fail(path + ": features has shape " + shape_str(t.sizes()) + ", expected [n, " + std::to_string(d) + "] floats");
    }
    s.features = t.to(at::kFloat);
    s.count = t.size(0);
  }
  return s;
}

// ---- statistics of images ------------------------------------------------------------------------

FidStatistics fid_statistics_of_images(const at::Tensor& images, FidInception& net, int batch_size,
                                       bool keep_features) {
  if (batch_size < 1) fail("FID: the batch size must be at least 1, got " + std::to_string(batch_size));
  if (!images.defined() || images.dim() != 4 || images.size(1) != 3) {
    fail("FID: images must be [n, 3, H, W] in [0, 1], got " +
         (images.defined() ? shape_str(images.sizes()) : std::string("none")));
  }
  net->prepare_for_inference();
  at::NoGradGuard no_grad;
  FeatureAccumulator acc(kFidFeatureDim, keep_features);
  for (int64_t i = 0; i < images.size(0); i += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, images.size(0) - i);
    acc.add(net->forward(images.narrow(0, i, n).to(net->device())));
  }
  return acc.statistics();
}

FidStatistics fid_statistics_of_folder(const std::string& dir, FidInception& net, int batch_size, bool keep_features) {
  if (batch_size < 1) fail("FID: the batch size must be at least 1, got " + std::to_string(batch_size));
  const std::vector<std::string> files = list_images(dir);
  if (files.size() < 2) {
    fail(dir + ": FID needs at least 2 images, found " + std::to_string(files.size()) + " image files");
  }
  net->prepare_for_inference();
  at::NoGradGuard no_grad;
  FeatureAccumulator acc(kFidFeatureDim, keep_features);
  std::vector<at::Tensor> batch;  // images already resized to 299x299: sizes may differ between files
  auto run = [&] {
    if (batch.empty()) return;
    acc.add(net->forward_resized(at::cat(batch, 0)));
    batch.clear();
  };
  for (const std::string& file : files) {
    batch.push_back(FidInceptionImpl::resize_input(load_image(file, 3).unsqueeze(0).to(net->device())));
    if (static_cast<int>(batch.size()) == batch_size) run();
  }
  run();
  return acc.statistics();
}

}  // namespace p2p
