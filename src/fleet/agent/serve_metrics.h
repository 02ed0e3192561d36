// The per-model request counters the agent reports to the hub, read from the local `continuum
// serve`'s /metrics (Prometheus text exposition 0.0.4). Only three families are read:
//
//   continuum_inference_request_success_total{model,version}          -> success
//   continuum_inference_request_failure_total{model,version,reason}   -> failure
//   continuum_inference_request_duration_seconds_bucket{model,version,le} -> duration_buckets
//
// each summed over versions (and failure reasons) per model; the buckets stay cumulative, one per
// `le` bound, sorted, +Inf last. Every other line is skipped unread past its metric name. The
// lines read are parsed strictly (label syntax and escapes, the value a number >= 0, an optional
// timestamp); a malformed one is an error naming its line. Bounded: bytes, line length, models,
// buckets per model (ScrapeLimits).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace continuum::fleet {

struct ModelCounters {
  int64_t success = 0;
  int64_t failure = 0;
  // {upper bound, cumulative count}, bounds ascending, +Inf (infinity) last when present.
  std::vector<std::pair<double, int64_t>> duration_buckets;
  bool operator==(const ModelCounters&) const = default;
};

struct ScrapeLimits {
  int64_t max_bytes = 16 << 20;
  int64_t max_line_bytes = 64 << 10;
  int64_t max_models = 4096;
  int64_t max_buckets = 64;  // distinct `le` bounds per model
};

inline constexpr std::string_view kSuccessFamily = "continuum_inference_request_success_total";
inline constexpr std::string_view kFailureFamily = "continuum_inference_request_failure_total";
inline constexpr std::string_view kDurationBucketFamily =
    "continuum_inference_request_duration_seconds_bucket";

// Model name -> its counters. kInvalidArgument ("metrics line N: ...") for a malformed line of
// the three families; kPayloadTooLarge beyond a limit.
StatusOr<std::map<std::string, ModelCounters>> ParseServeMetrics(std::string_view text,
                                                                 const ScrapeLimits& limits = {});

}  // namespace continuum::fleet
