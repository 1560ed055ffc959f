// Prometheus text exposition of the server's counters (metrics.h).
#include "p2p/serve/metrics.h"

#include <iomanip>
#include <limits>
#include <sstream>

namespace p2p::serve {

namespace {

// Shortest text that reads back as the same double where it matters: bucket bounds (0.005) as written,
// sums to 15 significant digits.
std::string number(double v) {
  std::ostringstream o;
  o << std::setprecision(15) << v;
  return o.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++total_;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_;
}

std::string Histogram::text(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream o;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    o << name << "_bucket{le=\"" << number(bounds_[i]) << "\"} " << cumulative << "\n";
  }
  o << name << "_bucket{le=\"+Inf\"} " << total_ << "\n";
  o << name << "_sum " << number(sum_) << "\n" << name << "_count " << total_ << "\n";
  return o.str();
}

ServeMetrics::ServeMetrics()
    : latency_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      batch_({1, 2, 3, 4, 6, 8, 12, 16, 32, 64}) {}

void ServeMetrics::count_request(const std::string& endpoint, const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, outcome}];
}

uint64_t ServeMetrics::requests(const std::string& endpoint, const std::string& outcome) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = requests_.find({endpoint, outcome});
  return it == requests_.end() ? 0 : it->second;
}

std::string ServeMetrics::text() const {
  std::ostringstream o;
  o << "# HELP p2p_serve_requests_total HTTP requests answered, by endpoint and outcome.\n"
    << "# TYPE p2p_serve_requests_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [key, n] : requests_) {
      o << "p2p_serve_requests_total{endpoint=\"" << key.first << "\",outcome=\"" << key.second << "\"} " << n << "\n";
    }
  }
  o << "# HELP p2p_serve_request_seconds Time from admission to reply of translate requests that were translated.\n"
    << "# TYPE p2p_serve_request_seconds histogram\n"
    << latency_.text("p2p_serve_request_seconds")
    << "# HELP p2p_serve_batch_size Images per forward pass (requests that arrived together run as one batch).\n"
    << "# TYPE p2p_serve_batch_size histogram\n"
    << batch_.text("p2p_serve_batch_size")
    << "# HELP p2p_serve_queue_depth Translate requests admitted and not yet answered.\n"
    << "# TYPE p2p_serve_queue_depth gauge\n"
    << "p2p_serve_queue_depth " << queue_depth.load() << "\n";
  return o.str();
}

std::string outcome_of(int status) {
  switch (status) {
    case 200: return "ok";
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "too_large";
    case 415: return "unsupported_type";
    case 503: return "overloaded";
    case 504: return "timeout";
    default: return status < 400 ? "ok" : "error";
  }
}

}  // namespace p2p::serve
