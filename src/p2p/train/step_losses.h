// Losses of one optimisation step and their sums over an epoch, as ordered named numbers. Names follow
// the reference's loss_<net>_<term> (G_GAN, G_L1, D_real, D_fake) plus one G_<term> per generator term
// of the objective, so history.jsonl and the progress line show exactly the terms a run optimises.
#pragma once

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

class StepLosses {
 public:
  void set(const std::string& name, double value);  // keeps first-set order
  double operator[](const std::string& name) const;  // 0 when absent (e.g. D terms of an L1-only run)
  bool has(const std::string& name) const;
  const std::vector<std::pair<std::string, double>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, double>> values_;
};

// Throws NonFiniteLoss "<name> became non-finite (v) at iteration <iteration + 1> (no optimizer step was
// taken with it)" unless `loss` (a scalar) is finite. Reads the value back from the device.
void check_finite_loss(const std::string& name, const at::Tensor& loss, int64_t iteration);

// "G 1.234 G_GAN 0.693 G_L1 0.210 D_real ..." (G_total shown as G; D_gp only when present).
std::string format_losses(const StepLosses& l);

// Sums over an epoch; kept in checkpoints so a resumed epoch reports full means. Each name has its own
// count: with --g_steps_per_d / --d_steps_per_g a network's losses exist only on the steps it takes.
class LossSums {
 public:
  void add(const StepLosses& l);
  int64_t count() const { return count_; }
  nlohmann::json to_json() const;
  static LossSums from_json(const nlohmann::json& j);
  nlohmann::json means() const;

 private:
  struct Entry {
    std::string name;
    double sum = 0;
    int64_t n = 0;
  };
  std::vector<Entry> sums_;
  int64_t count_ = 0;
};

}  // namespace p2p
