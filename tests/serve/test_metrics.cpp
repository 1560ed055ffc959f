// The Prometheus exposition: cumulative buckets, sums and counts, request counters by label.
#include "p2p/serve/metrics.h"

#include <gtest/gtest.h>

using namespace p2p::serve;

TEST(ServeMetrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 9.0}) h.observe(v);
  EXPECT_EQ(h.text("x"),
            "x_bucket{le=\"1\"} 2\n"
            "x_bucket{le=\"2\"} 3\n"
            "x_bucket{le=\"4\"} 4\n"
            "x_bucket{le=\"+Inf\"} 5\n"
            "x_sum 15\n"
            "x_count 5\n");
}

TEST(ServeMetrics, RequestCountersCarryEndpointAndOutcome) {
  ServeMetrics m;
  m.count_request("translate", outcome_of(200));
  m.count_request("translate", outcome_of(200));
  m.count_request("translate", outcome_of(503));
  m.count_request("model", outcome_of(401));
  m.queue_depth = 3;
  const std::string t = m.text();
  EXPECT_NE(t.find("p2p_serve_requests_total{endpoint=\"translate\",outcome=\"ok\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("p2p_serve_requests_total{endpoint=\"translate\",outcome=\"overloaded\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("p2p_serve_requests_total{endpoint=\"model\",outcome=\"unauthorized\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("p2p_serve_queue_depth 3\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE p2p_serve_request_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(outcome_of(413), "too_large");
  EXPECT_EQ(outcome_of(504), "timeout");
  EXPECT_EQ(outcome_of(500), "error");
}
