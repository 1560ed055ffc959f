// Step losses (see step_losses.h).
#include "p2p/train/step_losses.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace p2p {

namespace {
using Entries = std::vector<std::pair<std::string, double>>;
double* find(Entries& entries, const std::string& name) {
  for (auto& [k, v] : entries) {
    if (k == name) return &v;
  }
  return nullptr;
}
}  // namespace

void StepLosses::set(const std::string& name, double value) {
  if (double* v = find(values_, name)) {
    *v = value;
  } else {
    values_.emplace_back(name, value);
  }
}

double StepLosses::operator[](const std::string& name) const {
  for (const auto& [k, v] : values_) {
    if (k == name) return v;
  }
  return 0.0;
}

bool StepLosses::has(const std::string& name) const {
  for (const auto& entry : values_) {
    if (entry.first == name) return true;
  }
  return false;
}

void check_finite_loss(const std::string& name, const at::Tensor& loss, int64_t iteration) {
  const double v = loss.item<double>();
  if (std::isfinite(v)) return;
  std::ostringstream msg;
  msg << name << " became non-finite (" << v << ") at iteration " << (iteration + 1)
      << " (no optimizer step was taken with it)";
  throw NonFiniteLoss(msg.str());
}

std::string format_losses(const StepLosses& l) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  for (const auto& [name, value] : l.values()) {
    if (&name != &l.values().front().first) o << ' ';
    o << (name == "G_total" ? "G" : name) << ' ' << value;
  }
  return o.str();
}

void LossSums::add(const StepLosses& l) {
  for (const auto& [name, value] : l.values()) {
    auto it = std::find_if(sums_.begin(), sums_.end(), [&](const Entry& e) { return e.name == name; });
    if (it == sums_.end()) it = sums_.insert(sums_.end(), Entry{name, 0.0, 0});
    it->sum += value;
    ++it->n;
  }
  ++count_;
}

nlohmann::json LossSums::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json order = nlohmann::json::array();
  nlohmann::json counts = nlohmann::json::object();
  for (const Entry& e : sums_) {
    j[e.name] = e.sum;
    counts[e.name] = e.n;
    order.push_back(e.name);
  }
  j["count"] = count_;
  j["order"] = order;
  j["counts"] = counts;
  return j;
}

LossSums LossSums::from_json(const nlohmann::json& j) {
  LossSums s;
  if (!j.is_object()) return s;
  s.count_ = j.value("count", int64_t{0});
  std::vector<std::string> names;
  if (j.contains("order") && j["order"].is_array()) {
    for (const auto& name : j["order"]) {
      if (name.is_string()) names.push_back(name.get<std::string>());
    }
  } else {
    // Checkpoints written before terms were named in order: the fixed set of that time.
    names = {"G_total", "G_GAN", "G_L1", "D_real", "D_fake", "D_gp"};
  }
  const nlohmann::json counts = j.value("counts", nlohmann::json::object());
  for (const std::string& name : names) {
    if (!j.contains(name) || !j[name].is_number()) continue;
    s.sums_.push_back(Entry{name, j[name].get<double>(), counts.value(name, s.count_)});
  }
  return s;
}

nlohmann::json LossSums::means() const {
  nlohmann::json j = nlohmann::json::object();
  for (const Entry& e : sums_) j[e.name] = e.n > 0 ? e.sum / static_cast<double>(e.n) : 0.0;
  return j;
}

}  // namespace p2p
