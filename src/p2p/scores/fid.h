// Fréchet Inception Distance (Heusel et al. 2017) and Kernel Inception Distance (Bińkowski et al. 2018)
// from pool3 features of pytorch-fid's Inception (models/inception.h), as the reference implementations
// compute them (REFERENCE_EVAL.md §1-2):
//   FID = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrtm(S1 S2)       (pytorch-fid's calculate_frechet_distance)
//   KID = mean over random subset pairs of the unbiased MMD^2 with the kernel (x.y / dim + 1)^3
//         (torch-fidelity: 100 subsets of 1000, numpy RandomState(seed) draws without replacement)
// Feature statistics are kept as running sums in double, so memory does not grow with the number of
// images (the features themselves are kept too, 8 KB per image, for KID, unless switched off), and can be
// saved and loaded as pytorch-fid's .npz (mu, sigma).
#pragma once

#include "p2p/models/inception.h"

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Mean and covariance of a set of feature vectors: mu [dim] and sigma [dim, dim] float64, sigma as
// numpy.cov(rowvar=False) (divided by count - 1); features [count, dim] float32 when kept (KID needs them).
struct FidStatistics {
  int64_t count = 0;
  at::Tensor mu, sigma;
  at::Tensor features;  // undefined when not kept or not in the file
};

// Accumulates n, sum(x - s) and sum((x - s)(x - s)^T) in double, s being the first row added (a shift that
// keeps the covariance free of cancellation when the mean is large against the spread).
class FeatureAccumulator {
 public:
  explicit FeatureAccumulator(int64_t dim = kFidFeatureDim, bool keep_features = true);
  // features: [N, dim] or [dim], any floating dtype and device.
  void add(const at::Tensor& features);
  int64_t count() const { return count_; }
  int64_t dim() const { return dim_; }
  // mu and sigma (count >= 2, else p2p::Error), features when kept.
  FidStatistics statistics() const;
  // [count, dim] float32; undefined when not kept.
  at::Tensor features() const;

 private:
  void flush() const;
  int64_t dim_;
  bool keep_;
  int64_t count_ = 0;
  at::Tensor shift_;                   // [dim] double
  mutable at::Tensor sum_, sum_outer_; // [dim], [dim, dim] double
  mutable std::vector<at::Tensor> pending_;  // rows not yet in the sums: added in blocks, one GEMM each
  mutable int64_t pending_rows_ = 0;
  std::vector<at::Tensor> kept_;       // float32 blocks
};

// FID between two Gaussians. Tr sqrtm(S1 S2) is computed as the sum of the square roots of the
// eigenvalues of sqrt(S1) S2 sqrt(S1) (similar to S1 S2, symmetric, so eigh applies; sqrt(S1) from eigh
// of S1, its eigenvalues at rounding level dropped; tiny negative eigenvalues clamped to 0), in double.
// Like pytorch-fid, if the result is not finite, 1e-6 I is added to both covariances and it is computed
// again. Mismatched shapes or non-finite inputs throw p2p::Error.
double fid(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2, const at::Tensor& sigma2);
double fid(const FidStatistics& a, const FidStatistics& b);

struct KidResult {
  double mean = 0, std = 0;  // over the subsets; std with ddof 0 (numpy.std)
  int subsets = 0;
  int64_t subset_size = 0;   // used: the asked size, or the smaller set's size (see note)
  std::string note;          // non-empty when the subset size was clamped
};

// KID between feature sets [n1, dim] and [n2, dim] (float or double; computed in double). The subset
// size is clamped to min(n1, n2), as clean-fid does (torch-fidelity refuses), with a note; fewer than 2
// images in a set, or subsets < 1, throw p2p::Error. Subsets are drawn as torch-fidelity does, so with
// the same features and seed the same subsets are used.
KidResult kid(const at::Tensor& features1, const at::Tensor& features2, int subsets = 100, int64_t subset_size = 1000,
              uint64_t seed = 2020);

// The draws behind kid(): for each subset, m indices into set 1 then m into set 2, each
// numpy.random.RandomState(seed).choice(n, m, replace=False) in turn (a permutation by MT19937, as
// numpy's legacy generator makes it, cut to m).
using KidSubsets = std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>;
KidSubsets kid_subsets(int64_t n1, int64_t n2, int subsets, int64_t m, uint64_t seed);

// KID on given subsets (all of one size m >= 2), and the unbiased MMD^2 of one pair of equal-size sets.
KidResult kid_on_subsets(const at::Tensor& features1, const at::Tensor& features2, const KidSubsets& subsets);
double mmd2_unbiased(const at::Tensor& x, const at::Tensor& y);

// pytorch-fid's statistics file: an .npz with mu [dim] and sigma [dim, dim] float64, plus features
// [count, dim] float32 when kept (pytorch-fid ignores the extra array). Loading checks the shapes and
// throws p2p::Error naming the file and the array; count is features' rows, or 0 without them.
void save_fid_statistics(const std::string& path, const FidStatistics& stats);
FidStatistics load_fid_statistics(const std::string& path);

// Statistics of every image directly in `dir` (io/fs.h list_images; read as RGB in [0,1], as
// pytorch-fid's PIL convert('RGB') and ToTensor), run through `net` in batches of `batch_size`: each
// image is resized to 299x299 on its own, so sizes may differ; only the current batch is held. `net` (with
// its weights loaded) is prepared for inference first if it is not yet. Fewer than 2 images throw
// p2p::Error naming the folder.
FidStatistics fid_statistics_of_folder(const std::string& dir, FidInception& net, int batch_size = 50,
                                       bool keep_features = true);
// The same for images [N, 3, H, W] in [0, 1] (any device).
FidStatistics fid_statistics_of_images(const at::Tensor& images, FidInception& net, int batch_size = 50,
                                       bool keep_features = true);

}  // namespace p2p
