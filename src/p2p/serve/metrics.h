// What `p2p serve` exposes at GET /metrics, in the Prometheus text format (version 0.0.4): requests by
// endpoint and outcome, translate latency and forward batch sizes as histograms, and the queue depth.
// Counters only grow; every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace p2p::serve {

// A cumulative histogram with fixed upper bounds (the +Inf bucket is implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // The metric's lines: <name>_bucket{le="..."}, <name>_sum, <name>_count.
  std::string text(const std::string& name) const;
  uint64_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics();
  // One finished request: endpoint ("translate", "model", "page", "metrics", "healthz", "other") and outcome
  // ("ok", "bad_request", "unauthorized", "not_found", "too_large", "unsupported_type", "overloaded",
  // "timeout", "error").
  void count_request(const std::string& endpoint, const std::string& outcome);
  void observe_latency(double seconds) { latency_.observe(seconds); }
  void observe_batch(int64_t images) { batch_.observe(static_cast<double>(images)); }
  std::atomic<int64_t> queue_depth{0};  // translate requests admitted and not yet answered
  // The exposition text.
  std::string text() const;
  uint64_t requests(const std::string& endpoint, const std::string& outcome) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;
  Histogram latency_;
  Histogram batch_;
};

// The outcome label of an HTTP status.
std::string outcome_of(int status);

}  // namespace p2p::serve
