#include "telemetry/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>

namespace continuum::telemetry {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(Metrics, RendersRegistryExactly) {
  Registry r;
  auto& ok = r.AddCounter("req_success_total", "Successful requests.", {"model", "version"});
  auto& pending = r.AddGauge("pending_requests", "Requests waiting.", {"model"});
  auto& latency =
      r.AddHistogram("req_duration_seconds", "Request latency.", {"model"}, {5e-5, 0.0001, 0.0025, 1, 2.5});
  auto& total = r.AddCounter("inference_count_total", "Inferences.", {});

  // Children render sorted by label values, not in creation order.
  ok.WithLabels({"resnet", "2"}).Increment(3);
  ok.WithLabels({"bert", "1"}).Increment();
  pending.WithLabels({"bert"}).Set(2);
  pending.WithLabels({"bert"}).Add(-0.5);
  auto& h = latency.WithLabels({"bert"});
  h.Observe(0.0001);  // on a bound: le is inclusive
  h.Observe(0.002);
  h.Observe(2);
  h.Observe(100);
  total.WithLabels({}).Increment(7);

  EXPECT_EQ(r.Render(),
            "# HELP req_success_total Successful requests.\n"
            "# TYPE req_success_total counter\n"
            "req_success_total{model=\"bert\",version=\"1\"} 1\n"
            "req_success_total{model=\"resnet\",version=\"2\"} 3\n"
            "# HELP pending_requests Requests waiting.\n"
            "# TYPE pending_requests gauge\n"
            "pending_requests{model=\"bert\"} 1.5\n"
            "# HELP req_duration_seconds Request latency.\n"
            "# TYPE req_duration_seconds histogram\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"5e-05\"} 0\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"0.0001\"} 1\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"0.0025\"} 2\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"1\"} 2\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"2.5\"} 3\n"
            "req_duration_seconds_bucket{model=\"bert\",le=\"+Inf\"} 4\n"
            "req_duration_seconds_sum{model=\"bert\"} 102.0021\n"
            "req_duration_seconds_count{model=\"bert\"} 4\n"
            "# HELP inference_count_total Inferences.\n"
            "# TYPE inference_count_total counter\n"
            "inference_count_total 7\n");
}

TEST(Metrics, EmptyFamiliesRenderHelpAndType) {
  Registry r;
  r.AddCounter("a_total", "A.", {"model"});
  r.AddHistogram("b_seconds", "B.", {"model"}, {1});
  r.AddGauge("c", "C.", {});  // no labels: the one child exists from the start
  EXPECT_EQ(r.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\n"
            "# HELP b_seconds B.\n# TYPE b_seconds histogram\n"
            "# HELP c C.\n# TYPE c gauge\nc 0\n");
}

TEST(Metrics, LabelledCallbackFamiliesRenderWhatTheCallbackReturnsAtScrape) {
  Registry r;
  double ok = 3;
  r.AddCallbackFamily("x_total", "X.", /*counter=*/true, {"listener", "result"}, [&ok] {
    return std::vector<Registry::Sample>{{{"public", "ok"}, ok}, {{"public", "failed"}, 1}, {{"broken"}, 9}};
  });
  r.AddCallbackFamily("y_seconds", "Y.", /*counter=*/false, {"listener"}, [] {
    return std::vector<Registry::Sample>{{{"admin"}, 1767225600}};
  });
  ok = 4;
  EXPECT_EQ(r.Render(),
            "# HELP x_total X.\n# TYPE x_total counter\n"
            "x_total{listener=\"public\",result=\"ok\"} 4\n"
            "x_total{listener=\"public\",result=\"failed\"} 1\n"
            "# HELP y_seconds Y.\n# TYPE y_seconds gauge\n"
            "y_seconds{listener=\"admin\"} 1767225600\n");
  EXPECT_THROW(
      r.AddCallbackFamily("x_total", "again", true, {}, [] { return std::vector<Registry::Sample>{}; }),
      std::invalid_argument);
}

TEST(Metrics, UnlabelledHistogramHasOnlyLe) {
  Registry r;
  r.AddHistogram("h", "H.", {}, {}).WithLabels({}).Observe(0.5);
  EXPECT_EQ(r.Render(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n");
}

TEST(Metrics, EscapesHelpAndLabelValues) {
  Registry r;
  auto& f = r.AddCounter("x_total", "Back\\slash \"quoted\"\nnext line", {"path"});
  f.WithLabels({"C:\\dir \"q\"\nz"}).Increment();
  EXPECT_EQ(r.Render(),
            "# HELP x_total Back\\\\slash \"quoted\"\\nnext line\n"
            "# TYPE x_total counter\n"
            "x_total{path=\"C:\\\\dir \\\"q\\\"\\nz\"} 1\n");
}

std::string RenderGauge(double v) {
  Registry r;
  r.AddGauge("g", "G.", {}).WithLabels({}).Set(v);
  const std::string s = r.Render();
  const std::string prefix = "# HELP g G.\n# TYPE g gauge\ng ";
  EXPECT_TRUE(s.starts_with(prefix)) << s;
  return s.substr(prefix.size(), s.size() - prefix.size() - 1);
}

TEST(Metrics, FormatsNumbers) {
  EXPECT_EQ(RenderGauge(0), "0");
  EXPECT_EQ(RenderGauge(-0.0), "0");
  EXPECT_EQ(RenderGauge(42), "42");
  EXPECT_EQ(RenderGauge(-3), "-3");
  EXPECT_EQ(RenderGauge(1e6), "1000000");
  EXPECT_EQ(RenderGauge(123456789012), "123456789012");
  EXPECT_EQ(RenderGauge(0.1), "0.1");
  EXPECT_EQ(RenderGauge(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(RenderGauge(2.5e-3), "0.0025");
  EXPECT_EQ(RenderGauge(1e-4), "0.0001");
  EXPECT_EQ(RenderGauge(5e-5), "5e-05");
  EXPECT_EQ(RenderGauge(1.25e-7), "1.25e-07");
  EXPECT_EQ(RenderGauge(kInf), "+Inf");
  EXPECT_EQ(RenderGauge(-kInf), "-Inf");
  EXPECT_EQ(RenderGauge(kNaN), "NaN");
  // Round-trips exactly.
  for (double v : {0.1 + 0.2, 1e-300, 6.02214076e23, -2.5e-5, 1234.5678}) {
    EXPECT_EQ(std::stod(RenderGauge(v)), v);
  }
  // Counters are integers.
  Registry r;
  r.AddCounter("c_total", "C.", {}).WithLabels({}).Increment(UINT64_MAX);
  EXPECT_THAT(r.Render(), HasSubstr("\nc_total 18446744073709551615\n"));
}

TEST(Metrics, WithLabelsReturnsStableReferences) {
  Registry r;
  auto& f = r.AddCounter("c_total", "C.", {"a"});
  Counter& c1 = f.WithLabels({"x"});
  for (int i = 0; i < 1000; ++i) f.WithLabels({std::to_string(i)});
  EXPECT_EQ(&c1, &f.WithLabels({"x"}));
}

TEST(Metrics, RemoveDropsChildButKeepsReferenceValid) {
  Registry r;
  auto& f = r.AddCounter("c_total", "C.", {"a"});
  Counter& gone = f.WithLabels({"x"});
  f.WithLabels({"y"}).Increment(2);
  gone.Increment();
  f.Remove({"x"});
  f.Remove({"never"});
  gone.Increment();  // still valid, just not exposed
  EXPECT_EQ(r.Render(), "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"y\"} 2\n");
  // Asking again brings the same child back.
  EXPECT_EQ(&f.WithLabels({"x"}), &gone);
  EXPECT_EQ(gone.value(), 2u);
}

TEST(Metrics, LabelSetsBeyondTheBoundFoldIntoOneOverflowSeries) {
  Registry r(RegistryOptions{.max_label_sets = 3});
  auto& f = r.AddCounter("req_total", "R.", {"tenant", "model"});
  for (int i = 0; i < 1000; ++i) f.WithLabels({"t", "model-" + std::to_string(i)}).Increment();
  f.WithLabels({"t", "model-1"}).Increment(5);  // an existing label set keeps its own series
  const std::string s = r.Render();
  EXPECT_EQ(s,
            "# HELP req_total R.\n# TYPE req_total counter\n"
            "req_total{tenant=\"__other__\",model=\"__other__\"} 997\n"
            "req_total{tenant=\"t\",model=\"model-0\"} 1\n"
            "req_total{tenant=\"t\",model=\"model-1\"} 6\n"
            "req_total{tenant=\"t\",model=\"model-2\"} 1\n"
            "# HELP continuum_metrics_label_sets_dropped_total Label sets folded into a family's overflow "
            "series (label values \"__other__\") because the family reached its bound on label sets\n"
            "# TYPE continuum_metrics_label_sets_dropped_total counter\n"
            "continuum_metrics_label_sets_dropped_total{metric=\"req_total\"} 997\n");
  EXPECT_EQ(&f.WithLabels({"t", "x"}), &f.WithLabels({"t", "y"})) << "both fold into the overflow child";
}

TEST(Metrics, EachFamilyMayHaveItsOwnLabelSetBound) {
  Registry r;  // the default bound: 10000
  auto& small = r.AddGauge("small", "S.", {"k"});
  small.SetMaxLabelSets(1);
  auto& big = r.AddHistogram("big_seconds", "B.", {"k"}, {1});
  small.WithLabels({"a"}).Set(1);
  small.WithLabels({"b"}).Set(2);
  for (int i = 0; i < 20000; ++i) big.WithLabels({std::to_string(i)}).Observe(0.5);
  const std::string s = r.Render();
  EXPECT_THAT(s, HasSubstr("small{k=\"__other__\"} 2\nsmall{k=\"a\"} 1\n"));
  EXPECT_THAT(s, HasSubstr("big_seconds_count{k=\"9999\"} 1\n"));
  EXPECT_THAT(s, HasSubstr("big_seconds_count{k=\"__other__\"} 10000\n"));
  EXPECT_EQ(s.find("big_seconds_count{k=\"10000\"}"), std::string::npos);
  EXPECT_THAT(s, HasSubstr("continuum_metrics_label_sets_dropped_total{metric=\"big_seconds\"} 10000\n"));
  EXPECT_THAT(s, HasSubstr("continuum_metrics_label_sets_dropped_total{metric=\"small\"} 1\n"));
  // Series without labels are never bounded; removing frees room for a new label set.
  small.Remove({"a"});
  small.WithLabels({"c"}).Set(3);
  EXPECT_THAT(r.Render(), HasSubstr("small{k=\"c\"} 3\n"));
  EXPECT_THROW(r.AddCounter(std::string(kDroppedLabelSetsMetric), "", {}), std::invalid_argument);
}

TEST(Metrics, ProgrammingErrorsThrow) {
  Registry r;
  auto& f = r.AddCounter("c_total", "C.", {"a", "b"});
  EXPECT_THROW(f.WithLabels({"x"}), std::invalid_argument);
  EXPECT_THROW(f.WithLabels({"x", "y", "z"}), std::invalid_argument);
  EXPECT_THROW(f.Remove({}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("c_total", "dup", {}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("1bad", "", {}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("bad-name", "", {}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("g", "", {"bad label"}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("g", "", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.AddGauge("g", "", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("h", "", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("h", "", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("h", "", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.AddHistogram("h", "", {}, {kNaN}), std::invalid_argument);
  // A histogram owns name_bucket/_sum/_count.
  r.AddHistogram("lat", "", {}, {1});
  EXPECT_THROW(r.AddGauge("lat_count", "", {}), std::invalid_argument);
  r.AddGauge("other_sum", "", {});
  EXPECT_THROW(r.AddHistogram("other", "", {}, {1}), std::invalid_argument);
  EXPECT_NO_THROW(r.AddGauge("ns:colon_ok", "", {"le"}));  // le is only reserved in histograms
}

TEST(Metrics, HistogramBucketsAndSnapshot) {
  Histogram h({1, 2, kInf});  // a trailing +Inf is implicit and dropped
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, kNaN}) h.Observe(v);
  const auto s = h.Snap();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{1, 2}));
  EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{2, 4, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(Metrics, DefaultLatencyBuckets) {
  const auto b = DefaultLatencyBucketsSeconds();
  ASSERT_GE(b.size(), 10u);
  EXPECT_DOUBLE_EQ(b.front(), 50e-6);
  EXPECT_DOUBLE_EQ(b.back(), 60);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_NO_THROW(Histogram{b});
}

TEST(Metrics, CallbackMetrics) {
  Registry r;
  double v = 1.5;
  r.AddCallbackGauge("cb", "Callback.", [&v] { return v; });
  r.AddCallbackCounter("cb_seconds_total", "Callback counter.", [] { return 2.0; });
  v = 4.25;  // read at render time
  EXPECT_EQ(r.Render(),
            "# HELP cb Callback.\n# TYPE cb gauge\ncb 4.25\n"
            "# HELP cb_seconds_total Callback counter.\n# TYPE cb_seconds_total counter\n"
            "cb_seconds_total 2\n");
}

TEST(Metrics, ProcessMetrics) {
  Registry r;
  RegisterProcessMetrics(r);
  const std::string s = r.Render();
  for (const char* name :
       {"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
        "process_max_fds", "process_cpu_seconds_total", "process_start_time_seconds"}) {
    // A plain non-negative integer or decimal: never NaN on Linux.
    EXPECT_THAT(s, MatchesRegex(".*\n" + std::string(name) + " [0-9]+(\\.[0-9]+)?\n.*")) << s;
  }
  const auto value = [&s](const std::string& name) {
    const size_t at = s.find("\n" + name + " ");
    return std::stod(s.substr(at + name.size() + 2));
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1e5);
  EXPECT_GE(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr
  EXPECT_GT(value("process_start_time_seconds"), 1.6e9);
  EXPECT_THROW(RegisterProcessMetrics(r), std::invalid_argument);  // once per registry
}

TEST(Metrics, ConcurrentUpdatesAndRenders) {
  Registry r;
  auto& counters = r.AddCounter("c_total", "C.", {"t"});
  auto& shared = r.AddCounter("shared_total", "S.", {});
  auto& gauge = r.AddGauge("g", "G.", {});
  auto& hist = r.AddHistogram("h_seconds", "H.", {"t"}, DefaultLatencyBucketsSeconds());
  constexpr int kThreads = 4;
  constexpr int kIters = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        // Looked up every time on purpose, to exercise the map under contention.
        counters.WithLabels({std::to_string(i % 3)}).Increment();
        shared.WithLabels({}).Increment();
        gauge.WithLabels({}).Add(1);
        hist.WithLabels({"x"}).Observe(0.001);
        if (t == 0 && i % 10000 == 0) (void)r.Render();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(shared.WithLabels({}).value(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(gauge.WithLabels({}).value(), double{kThreads} * kIters);
  uint64_t sum = 0;
  for (const char* l : {"0", "1", "2"}) sum += counters.WithLabels({l}).value();
  EXPECT_EQ(sum, uint64_t{kThreads} * kIters);
  const auto s = hist.WithLabels({"x"}).Snap();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kIters);
  EXPECT_EQ(s.cumulative_counts.back(), s.count);
  EXPECT_NEAR(s.sum, 0.001 * kThreads * kIters, 1e-6);
}

}  // namespace
}  // namespace continuum::telemetry
