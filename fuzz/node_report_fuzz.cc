// libFuzzer target for the node-report headers a gateway reads from a node's answer
// (common/node_report.h: X-Continuum-Compute-Ms, -Run-Ms, -Engine-Ms, -Queue-Depth) and for what
// the router's estimators learn from them. The input is a list of header values, one a line,
// taken in turn as the four headers of successive answers. Invariants: a value that parses is
// finite, >= 0 and not -0, and is the whole line (printing it with %.17g and parsing that gives
// the same number); whatever numbers the answers carry, the estimators' compute median and p95,
// the queue depth and the link estimates stay finite and non-negative, with p95 >= median.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/node_report.h"
#include "fuzz_check.h"
#include "router/estimators.h"

namespace {

using namespace continuum;

using continuum::fuzz::Check;

bool FiniteNonNegative(double v) { return std::isfinite(v) && v >= 0; }

std::optional<double> CheckedParse(std::string_view value) {
  std::optional<double> v = ParseNodeReportValue(value);
  if (!v) return v;
  Check(std::isfinite(*v) && *v >= 0 && !std::signbit(*v), "a parsed value is finite, >= 0 and not -0");
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", *v);
  Check(ParseNodeReportValue(text) == v, "a parsed value prints and parses back to itself");
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 20000));
  router::Estimators est(16, 20, 100, [&now] { return now; });
  const std::string node = "n1", model = "m";
  est.SeedCompute(node, model, 5);

  std::optional<double> values[4];  // compute, run, engine, queue depth
  int field = 0;
  while (!input.empty()) {
    const size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    values[field] = CheckedParse(line);
    if (++field < 4) continue;
    field = 0;
    // One answer: what the gateway hands the estimators (the engine run if reported, else the
    // time on the node; the queue depth as reported; the exchange as one transfer).
    if (values[3]) est.ReportQueueDepth(node, *values[3]);
    const std::optional<double> compute = values[1] ? values[1] : values[0];
    if (compute) {
      est.ObserveCompute(node, model, *compute);
      est.ObserveTransfer(node, 64 * 1024, *compute, false);
    }
    now += std::chrono::milliseconds(100);

    const auto view = est.Compute(node, model, 1);
    Check(FiniteNonNegative(view.median_ms) && FiniteNonNegative(view.p95_ms),
          "compute estimate finite, >= 0");
    Check(view.p95_ms >= view.median_ms, "compute p95 >= median");
    Check(FiniteNonNegative(est.QueueDepth(node)), "queue depth finite, >= 0");
    const auto link = est.Link(node);
    Check(FiniteNonNegative(link.rtt_ms) && FiniteNonNegative(link.bandwidth_mbps),
          "link estimate finite, >= 0");
  }
  return 0;
}
