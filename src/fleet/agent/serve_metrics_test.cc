#include "fleet/agent/serve_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace continuum::fleet {
namespace {

constexpr char kExposition[] =
    R"(# HELP continuum_inference_request_success_total Successful inference requests
# TYPE continuum_inference_request_success_total counter
continuum_inference_request_success_total{model="add_sub",version="1"} 100
continuum_inference_request_success_total{model="add_sub",version="2"} 20
continuum_inference_request_success_total{model="mlp",version="1"} 7
# TYPE continuum_inference_request_failure_total counter
continuum_inference_request_failure_total{model="add_sub",version="1",reason="BACKEND"} 2
continuum_inference_request_failure_total{model="add_sub",version="2",reason="QUEUE_FULL"} 1
# TYPE continuum_inference_request_duration_seconds histogram
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="1",le="0.001"} 50
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="1",le="0.01"} 90
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="1",le="+Inf"} 102
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="2",le="0.001"} 10
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="2",le="0.01"} 20
continuum_inference_request_duration_seconds_bucket{model="add_sub",version="2",le="+Inf"} 21
continuum_inference_request_duration_seconds_sum{model="add_sub",version="1"} 0.5
continuum_inference_request_duration_seconds_count{model="add_sub",version="1"} 102
continuum_inference_queue_duration_seconds_bucket{model="add_sub",version="1",le="+Inf"} 999
process_cpu_seconds_total 12.5
continuum_inference_request_success_total_other{model="add_sub"} 5
)";

TEST(ServeMetricsTest, SumsOverVersionsPerModel) {
  auto m = ParseServeMetrics(kExposition);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  const ModelCounters& a = m->at("add_sub");
  EXPECT_EQ(a.success, 120);
  EXPECT_EQ(a.failure, 3);
  ASSERT_EQ(a.duration_buckets.size(), 3u);
  EXPECT_DOUBLE_EQ(a.duration_buckets[0].first, 0.001);
  EXPECT_EQ(a.duration_buckets[0].second, 60);
  EXPECT_DOUBLE_EQ(a.duration_buckets[1].first, 0.01);
  EXPECT_EQ(a.duration_buckets[1].second, 110);
  EXPECT_TRUE(std::isinf(a.duration_buckets[2].first));
  EXPECT_EQ(a.duration_buckets[2].second, 123);
  const ModelCounters& b = m->at("mlp");
  EXPECT_EQ(b.success, 7);
  EXPECT_EQ(b.failure, 0);
  EXPECT_TRUE(b.duration_buckets.empty());
}

TEST(ServeMetricsTest, EmptyAndOtherFamiliesOnly) {
  EXPECT_TRUE(ParseServeMetrics("")->empty());
  EXPECT_TRUE(ParseServeMetrics("# nothing\nprocess_open_fds 3\nweird line {{{ here\n")->empty());
}

TEST(ServeMetricsTest, EscapesTimestampsAndBlanks) {
  auto m = ParseServeMetrics(
      "continuum_inference_request_success_total{model=\"a\\\"b\\\\c\\nd\",version=\"1\",} 4 "
      "1700000000000\r\n"
      "continuum_inference_request_success_total{ model=\"x\" , version=\"1\" }\t2e0\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->at("a\"b\\c\nd").success, 4);
  EXPECT_EQ(m->at("x").success, 2);
}

TEST(ServeMetricsTest, MalformedLinesNamed) {
  const std::vector<std::string> bad = {
      "continuum_inference_request_success_total{model=\"a\"} x",
      "continuum_inference_request_success_total{model=\"a\"}",
      "continuum_inference_request_success_total{model=\"a} 1",
      "continuum_inference_request_success_total{model=a} 1",
      "continuum_inference_request_success_total{model=\"a\" version=\"1\"} 1",
      "continuum_inference_request_success_total{model=\"a\\t\"} 1",
      "continuum_inference_request_success_total{version=\"1\"} 1",
      "continuum_inference_request_success_total{model=\"a\"} -1",
      "continuum_inference_request_success_total{model=\"a\"} NaN",
      "continuum_inference_request_success_total{model=\"a\"} +Inf",
      "continuum_inference_request_success_total{model=\"a\"} 1 abc",
      "continuum_inference_request_duration_seconds_bucket{model=\"a\"} 1",
      "continuum_inference_request_duration_seconds_bucket{model=\"a\",le=\"x\"} 1",
  };
  for (const std::string& line : bad) {
    auto m = ParseServeMetrics("# ok\n" + line + "\n");
    ASSERT_FALSE(m.ok()) << line;
    EXPECT_NE(m.status().message().find("metrics line 2"), std::string::npos) << m.status().message();
  }
}

TEST(ServeMetricsTest, Limits) {
  ScrapeLimits limits;
  limits.max_bytes = 10;
  EXPECT_EQ(ParseServeMetrics(kExposition, limits).status().code(), StatusCode::kPayloadTooLarge);
  limits = {};
  limits.max_models = 1;
  EXPECT_EQ(ParseServeMetrics(kExposition, limits).status().code(), StatusCode::kPayloadTooLarge);
  limits = {};
  limits.max_buckets = 2;
  EXPECT_EQ(ParseServeMetrics(kExposition, limits).status().code(), StatusCode::kPayloadTooLarge);
  limits = {};
  limits.max_line_bytes = 20;
  EXPECT_EQ(ParseServeMetrics(kExposition, limits).status().code(), StatusCode::kPayloadTooLarge);
}

}  // namespace
}  // namespace continuum::fleet
