// Checks the exposition of a registry shaped like the server's with Prometheus' own linter,
// `promtool check metrics` (exit 0 and no output when the text parses and lints clean).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "telemetry/metrics.h"

namespace continuum::telemetry {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr const char* kPromtool = "/usr/bin/promtool";

struct CheckResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CheckResult PromtoolCheck(const std::string& exposition) {
  const std::string path = ::testing::TempDir() + "promtool_test_" + std::to_string(getpid());
  std::ofstream(path) << exposition;
  const std::string cmd = std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  CheckResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::remove(path.c_str());
  return result;
}

// The families the server exposes, with a few children and observations each.
void FillServerRegistry(Registry& r) {
  const std::vector<std::string> mv = {"model", "version"};
  auto& success = r.AddCounter("continuum_inference_request_success_total",
                               "Number of successful inference requests.", mv);
  auto& failure = r.AddCounter("continuum_inference_request_failure_total",
                               "Number of failed inference requests.", {"model", "version", "reason"});
  auto& count = r.AddCounter("continuum_inference_count_total",
                             "Number of inferences performed (a batch of n counts n).", mv);
  auto& exec =
      r.AddCounter("continuum_inference_exec_count_total", "Number of model executions performed.", mv);
  auto& pending = r.AddGauge("continuum_inference_pending_requests",
                             "Number of inference requests waiting to execute.", mv);
  std::vector<Family<Histogram>*> durations;
  for (const char* stage : {"queue", "compute_input", "compute_infer", "compute_output", "request"}) {
    const std::string name = std::string("continuum_inference_") + stage + "_duration_seconds";
    durations.push_back(&r.AddHistogram(name, std::string("Time spent in ") + stage + ".", mv,
                                        DefaultLatencyBucketsSeconds()));
  }
  auto& load = r.AddGauge("continuum_model_load_duration_seconds", "Time taken to load the model.", mv);
  RegisterProcessMetrics(r);

  for (const auto& [model, version] : {std::pair{"mlp", "1"}, {"resnet \"50\"", "2"}}) {
    success.WithLabels({model, version}).Increment(10);
    failure.WithLabels({model, version, "invalid_argument"}).Increment(2);
    failure.WithLabels({model, version, "unavailable"}).Increment();
    count.WithLabels({model, version}).Increment(40);
    exec.WithLabels({model, version}).Increment(5);
    pending.WithLabels({model, version}).Set(3);
    load.WithLabels({model, version}).Set(0.125);
    for (Family<Histogram>* f : durations) {
      for (double v : {30e-6, 0.0004, 0.002, 0.07, 1.5, 99.0}) f->WithLabels({model, version}).Observe(v);
    }
  }
}

class Promtool : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " not installed";
  }
};

TEST_F(Promtool, AcceptsServerMetrics) {
  Registry r;
  FillServerRegistry(r);
  const CheckResult res = PromtoolCheck(r.Render());
  EXPECT_EQ(res.exit_code, 0) << res.output;
  EXPECT_EQ(res.output, "");
}

TEST_F(Promtool, AcceptsEscapesAndSpecialValues) {
  Registry r;
  r.AddGauge("odd_values", "Help with \\ backslash\nand newline.", {"v"});
  auto& g = r.AddGauge("special_values", "Infinities and NaN.", {"kind"});
  g.WithLabels({"pos"}).Set(kInf);
  g.WithLabels({"neg"}).Set(-kInf);
  g.WithLabels({"nan"}).Set(kNaN);
  g.WithLabels({"tiny"}).Set(1.25e-9);
  r.AddCounter("escaped_total", "Escaped label values.", {"v"}).WithLabels({"a\\b \"c\"\nd"}).Increment();
  const CheckResult res = PromtoolCheck(r.Render());
  EXPECT_EQ(res.exit_code, 0) << res.output;
  EXPECT_EQ(res.output, "");
}

// Makes sure the linter is really looking: a gauge named like a histogram series is flagged.
TEST_F(Promtool, FlagsGaugeWithCountSuffix) {
  Registry r;
  r.AddGauge("continuum_inference_pending_request_count", "Pending requests.", {});
  const CheckResult res = PromtoolCheck(r.Render());
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.output.find("should not have \"_count\" suffix"), std::string::npos) << res.output;
}

}  // namespace
}  // namespace continuum::telemetry
