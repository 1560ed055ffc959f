// Loading a pair, SAR dB scaling and the per-channel input normalisation (see normalization.h).
// Statistics are accumulated per image in double and merged with the pairwise (Chan et al.) update,
// so large float bands do not lose the variance to cancellation.
#include "p2p/data/normalization.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "p2p/io/tiff.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace p2p {

namespace {

constexpr double kStdFloor = 1e-6;  // a constant band must not divide by zero
constexpr double kMinIntensity = 1e-10;  // log10 of zero intensity (no return) becomes -100 dB, then clipped

bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(out);
}

// Per-channel broadcastable [C,1,1] tensor of `v`.
at::Tensor per_channel(const std::vector<double>& v, const at::Tensor& like) {
  return at::tensor(v, at::kDouble).to(like.scalar_type()).view({-1, 1, 1});
}

void check_stats_match(const DataConfig& cfg, int64_t channels) {
  if (static_cast<int64_t>(cfg.mean_A.size()) != channels || static_cast<int64_t>(cfg.std_A.size()) != channels) {
    fail("--normalize dataset: the run's input statistics have " + std::to_string(cfg.mean_A.size()) + " mean and " +
         std::to_string(cfg.std_A.size()) + " std values, but A has " + std::to_string(channels) + " channels");
  }
}

// Pair `r` as loaded, nodata still NaN (normalization.h).
LoadedPair load_marked_pair(const PairRecord& r, const DataConfig& cfg);

}  // namespace

void parse_db_range(const std::string& spec, double& min_db, double& max_db) {
  const size_t colon = spec.find(':');
  double lo = 0, hi = 0;
  if (colon == std::string::npos || !parse_number(spec.substr(0, colon), lo) ||
      !parse_number(spec.substr(colon + 1), hi)) {
    fail("--db_range '" + spec + "': expected MIN:MAX in dB, two numbers (e.g. -25:0)");
  }
  if (!(lo < hi)) fail("--db_range '" + spec + "': MIN must be below MAX");
  min_db = lo;
  max_db = hi;
}

at::Tensor sar_db_to_unit(const at::Tensor& intensity, double min_db, double max_db) {
  at::Tensor db = intensity.to(at::kDouble).clamp_min(kMinIntensity).log10() * 10.0;
  return ((db.clamp(min_db, max_db) - min_db) / (max_db - min_db)).to(at::kFloat);
}

at::Tensor& fill_input_nodata(at::Tensor& unit, const DataConfig& cfg) {
  const at::Tensor nodata = unit.isnan();
  if (!nodata.any().item<bool>()) return unit;
  const int64_t c = unit.size(-3);
  if (cfg.normalize == "dataset" && static_cast<int64_t>(cfg.mean_A.size()) == c) {
    unit.copy_(at::where(nodata, per_channel(cfg.mean_A, unit).expand_as(unit), unit));
  } else {
    unit.masked_fill_(nodata, 0.5);
  }
  return unit;
}

LoadedPair load_pair(const PairRecord& r, const DataConfig& cfg) {
  LoadedPair p = load_marked_pair(r, cfg);
  fill_input_nodata(p.A, cfg);
  p.B.masked_fill_(p.B.isnan(), 0.5);  // the target's nodata: the network's 0, as A's without statistics
  return p;
}

namespace {

LoadedPair load_marked_pair(const PairRecord& r, const DataConfig& cfg) {
  const bool btoa = cfg.direction == "BtoA";
  // Channels of the A-file side and the B-file side: after the swap, the network input gets input_nc.
  const int left_nc = btoa ? cfg.output_nc : cfg.input_nc;
  const int right_nc = btoa ? cfg.input_nc : cfg.output_nc;
  const std::string left_flag = btoa ? "--output_nc" : "--input_nc";
  const std::string right_flag = btoa ? "--input_nc" : "--output_nc";
  at::Tensor left, right;
  int left_bits = 8, right_bits = 8;
  if (r.aligned) {
    int load_nc = left_nc;
    std::string flag = "--input_nc/--output_nc";
    if (left_nc != right_nc) {
      if (is_tiff_file(r.a_path)) {
        fail(r.a_path + ": an AB TIFF holds A and B with the same bands, but --input_nc is " +
             std::to_string(cfg.input_nc) + " and --output_nc " + std::to_string(cfg.output_nc) +
             "; put A and B in A/ and B/ folders instead");
      }
      load_nc = (left_nc == 4 || right_nc == 4) ? 4 : 3;
      flag.clear();
    }
    // Conversion is per pixel, so converting the whole AB image once equals converting each half.
    at::Tensor ab = load_image(r.a_path, load_nc, left_bits, flag);
    right_bits = left_bits;
    const int64_t w = ab.size(2);
    if (w % 2 != 0) {
      fail(r.a_path + ": an AB image must have an even width (A and B side by side), but it is " + std::to_string(w) +
           " pixels wide");
    }
    left = convert_channels(ab.narrow(2, 0, w / 2), left_nc, left_bits);
    right = convert_channels(ab.narrow(2, w / 2, w / 2), right_nc, right_bits);
  } else {
    left = load_image(r.a_path, left_nc, left_bits, left_flag);
    right = load_image(r.b_path, right_nc, right_bits, right_flag);
    if (left.size(1) != right.size(1) || left.size(2) != right.size(2)) {
      fail("pair sizes differ: " + r.a_path + " is " + std::to_string(left.size(2)) + "x" + std::to_string(left.size(1)) +
           " but " + r.b_path + " is " + std::to_string(right.size(2)) + "x" + std::to_string(right.size(1)) +
           "; A and B images of a pair must be the same size");
    }
  }
  LoadedPair p;
  p.A = btoa ? right : left;
  p.B = btoa ? left : right;
  p.a_bits = btoa ? right_bits : left_bits;
  p.b_bits = btoa ? left_bits : right_bits;
  if (cfg.sar_db) {
    double lo = 0, hi = 0;
    parse_db_range(cfg.db_range, lo, hi);
    p.A = sar_db_to_unit(p.A, lo, hi);  // NaN (nodata) stays NaN
    p.a_bits = 32;
  }
  return p;
}

}  // namespace

at::Tensor input_to_network(const at::Tensor& unit, const DataConfig& cfg) {
  if (cfg.normalize != "dataset") return to_network_range(unit);
  check_stats_match(cfg, unit.size(-3));
  return (unit - per_channel(cfg.mean_A, unit)) / per_channel(cfg.std_A, unit);
}

at::Tensor input_from_network(const at::Tensor& net, const DataConfig& cfg) {
  if (cfg.normalize != "dataset") return to_unit_range(net);
  check_stats_match(cfg, net.size(-3));
  return net * per_channel(cfg.std_A, net) + per_channel(cfg.mean_A, net);
}

void check_input_statistics(const DataConfig& cfg) {
  check_choice("--normalize", cfg.normalize, "none|dataset");
  if (cfg.sar_db) {
    double lo = 0, hi = 0;
    parse_db_range(cfg.db_range, lo, hi);
  }
  if (cfg.normalize != "dataset") return;
  if (cfg.mean_A.empty() && cfg.std_A.empty()) {
    fail("--normalize dataset: the input statistics (mean_A, std_A) are missing; they are computed from the "
         "training set when training starts and stored in the run's config.json");
  }
  check_stats_match(cfg, cfg.input_nc);
  for (size_t i = 0; i < cfg.std_A.size(); ++i) {
    if (!std::isfinite(cfg.mean_A[i]) || !std::isfinite(cfg.std_A[i]) || cfg.std_A[i] <= 0) {
      fail("--normalize dataset: input statistics of channel " + std::to_string(i) + " are invalid (mean " +
           std::to_string(cfg.mean_A[i]) + ", std " + std::to_string(cfg.std_A[i]) + ")");
    }
  }
}

void compute_input_statistics(DataConfig& cfg, const std::vector<PairRecord>& train) {
  if (train.empty()) fail("--normalize dataset: no training pairs to compute the input statistics from");
  const int64_t c = cfg.input_nc;
  // Per channel: nodata pixels are left out, so each channel has its own count.
  std::vector<double> count(static_cast<size_t>(c), 0.0), mean(static_cast<size_t>(c), 0.0),
      m2(static_cast<size_t>(c), 0.0);
  for (const PairRecord& r : train) {
    const at::Tensor a = load_marked_pair(r, cfg).A.to(at::kDouble).reshape({c, -1});
    const at::Tensor valid = a.isnan().logical_not();
    const at::Tensor zeroed = a.masked_fill(valid.logical_not(), 0.0);
    const at::Tensor nb_t = valid.sum(1).to(at::kDouble);
    const at::Tensor mb = zeroed.sum(1) / nb_t.clamp_min(1.0);
    const at::Tensor m2b = ((a - mb.unsqueeze(1)).masked_fill(valid.logical_not(), 0.0)).pow(2).sum(1);
    for (int64_t k = 0; k < c; ++k) {
      const double nb = nb_t[k].item<double>();
      if (nb == 0) continue;
      const double na = count[k], nt = na + nb;
      const double mean_b = mb[k].item<double>(), delta = mean_b - mean[k];
      mean[k] += delta * nb / nt;
      m2[k] += m2b[k].item<double>() + delta * delta * na * nb / nt;
      count[k] = nt;
    }
  }
  cfg.mean_A = mean;
  cfg.std_A.assign(static_cast<size_t>(c), 0.0);
  for (int64_t k = 0; k < c; ++k) {
    if (count[k] == 0) {
      fail("--normalize dataset: channel " + std::to_string(k) + " of A is nodata in every training image; its "
           "statistics cannot be computed");
    }
    cfg.std_A[k] = std::max(kStdFloor, std::sqrt(m2[k] / count[k]));
  }
}

}  // namespace p2p
