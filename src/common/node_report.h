// Headers a node adds to every inference answer so that whoever routes to it (the gateway,
// libcontinuum, the AI-gateway filters) learns its speed and load from real traffic, without
// polling: the time the request spent on the node and the node's queue at answer time. gRPC's
// ModelInfer sends the same pairs, from AddNodeReport too, as the answer's initial metadata.
#pragma once

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace continuum {

// Milliseconds from the request's arrival at the engine to its result (queue wait + compute,
// task pre/post-processing included), as a decimal number. Lower-case, as the HTTP layers store it.
inline constexpr std::string_view kComputeMsHeader = "x-continuum-compute-ms";
// Milliseconds of the engine run that carried the request, whole (for a batch: the batch's run),
// queue wait excluded: what a router predicts compute time from (the queue it learns from the
// depth below).
inline constexpr std::string_view kRunMsHeader = "x-continuum-run-ms";
// Milliseconds of engine time this request used: the run's time times the request's share of its
// rows. What usage metering charges.
inline constexpr std::string_view kEngineMsHeader = "x-continuum-engine-ms";
// Requests of the same model version still waiting on the node when this one was answered.
inline constexpr std::string_view kQueueDepthHeader = "x-continuum-queue-depth";

// Appends the four headers to a response's header list.
inline void AddNodeReport(std::vector<std::pair<std::string, std::string>>* headers,
                          std::chrono::steady_clock::duration on_node, size_t queue_depth,
                          std::chrono::nanoseconds run, double batch_share) {
  auto add_ms = [headers](std::string_view name, double ms) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", ms);
    headers->emplace_back(std::string(name), text);
  };
  const double run_ms = std::chrono::duration<double, std::milli>(run).count();
  add_ms(kComputeMsHeader, std::chrono::duration<double, std::milli>(on_node).count());
  add_ms(kRunMsHeader, run_ms);
  add_ms(kEngineMsHeader, run_ms * batch_share);
  headers->emplace_back(std::string(kQueueDepthHeader), std::to_string(queue_depth));
}

// The value of one of the four headers, as whoever routes to the node reads it: the whole value
// is a decimal number, finite and >= 0 (-0 reads as 0). Anything else (a sign, a unit after the
// number, inf, nan, out of range, empty) is nullopt: the header says nothing and the reader
// falls back as if it were absent.
inline std::optional<double> ParseNodeReportValue(std::string_view v) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d == 0 ? 0.0 : d;
}

}  // namespace continuum
