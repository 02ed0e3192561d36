// The progressive rollout engine: decides, tick by tick, how a deployment moves its selected nodes
// from an old package digest to a new one, in batches (the first batch is the canary), with
// automatic rollback from the nodes' own health and request metrics. Modelled on Open Cluster
// Management's progressive rollout strategy (maxConcurrency -> batch_size / batch_percent,
// minSuccessTime -> min_success_ms, progressDeadline -> health_timeout_ms, maxFailures ->
// max_failures).
//
// Contracts:
// - Pure: no I/O, no clock, no randomness. Time comes in as `now_ms` (unix epoch milliseconds);
//   Advance is deterministic and idempotent: Advance(Advance(r, ...).rollout, ...) with the same
//   inputs changes nothing and reports no events.
// - A rollout is stored as its JSON (RolloutToJson); ParseRollout is strict (unknown fields
//   refused, errors name the field path) and bounded (RolloutLimits).
//
// Rules of Advance (one tick), repeated until nothing more changes in the tick:
// 1. Selection: a node that left `selected` is dropped from pending batches and from the batch in
//    progress (an emptied batch disappears); a selected node in no batch is appended to the last
//    pending batch while it has room, else to a new batch (event nodes_changed). Nodes of batches
//    that ended stay where they are.
// 2. Health of the batch in progress, node by node (nodes already failed are skipped). A node
//    FAILS when it reports an error for the target digest; or it is not ready on the target digest
//    once health_timeout_ms have passed since the batch started (also when it was ready and is no
//    longer); or its observation has not been fresh (or absent) for health_timeout_ms. Failed
//    nodes join failed_nodes (event node_failed). More than max_failures failed nodes -> rollback:
//    phase kRolledBack, the batch kFailed, the reason names the node and why. Batches that never
//    started never see the new digest.
// 3. Metrics verdict: the new version's figures are the sums over the nodes of started batches
//    that report the target digest, in the window since the current batch started
//    (MetricsWindowStartMs): error rate = failure / (success + failure), p95 from the summed
//    histogram deltas. They give a verdict only with >= min_requests requests. The old version's
//    figures are the same over the nodes reporting from_digest when those have >= min_requests
//    (then stored as the baseline), else the stored baseline; with neither, health alone decides.
//    New error rate - old > max_error_rate_increase, or new p95 / old p95 - 1 > max_p95_increase
//    -> rollback with the figures in the reason. When from_digest is "" there is no comparison.
// 4. The batch in progress SUCCEEDS once every node not failed is fresh and ready on the target
//    digest and has been so (with no failure in the batch, no bad verdict) for min_success_ms:
//    healthy_since = max(the latest ready_since_ms of its nodes, the batch's last failure). The
//    next batch then starts (batch_started); the last one succeeding -> phase kSucceeded
//    (event succeeded). Nodes already running the target digest form the first batches and
//    succeed at once when they have been ready for min_success_ms.
// 5. A rollout with no nodes succeeds at once. A succeeded or rolled-back rollout no longer
//    changes.
// Every decision records an operator-readable reason in the event and in Rollout::reason:
// "batch 2/4 (edge-3, edge-4): healthy for 30 s, error rate 0.4% vs 0.5%, p95 12 ms vs 11 ms:
// next batch".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "common/status.h"

namespace continuum::fleet {

struct RolloutStrategy {
  int64_t batch_size = 1;  // nodes per batch, >= 1 (the first batch is the canary)
  int64_t batch_percent =
      0;  // 1..100: batch size = ceil(percent% of the rollout's nodes), overrides batch_size
  int64_t min_success_ms = 30000;      // a batch must stay healthy this long before the next starts
  int64_t max_failures = 0;            // failed nodes tolerated over the whole rollout; one more -> rollback
  int64_t health_timeout_ms = 120000;  // a batch node not ready on the new digest by then has failed
  double max_error_rate_increase =
      0.05;                       // new error rate - old error rate (fractions) beyond this -> rollback
  double max_p95_increase = 0.5;  // new p95 / old p95 - 1 beyond this -> rollback
  int64_t min_requests =
      20;  // metrics give a verdict only once the new version has this many requests in the window
  bool operator==(const RolloutStrategy&) const = default;
};
// The JSON object form, every field optional (defaults above), unknown fields refused. Ranges:
// batch_size 1..1000000, batch_percent 0..100, min_success_ms 0..30 days, max_failures 0..1000000,
// health_timeout_ms 1..30 days, max_error_rate_increase 0..1, max_p95_increase 0..1000000,
// min_requests 1..10^12.
StatusOr<RolloutStrategy> ParseRolloutStrategy(const config::Reader& r, config::Element e,
                                               std::string_view where);
void WriteRolloutStrategy(JsonWriter& w, const RolloutStrategy& s);  // every field
// Nodes per batch for a rollout over `nodes` nodes (>= 1).
int64_t BatchSizeFor(const RolloutStrategy& s, size_t nodes);

// Prometheus-style cumulative histogram: (upper bound, cumulative count), bounds ascending, last +Inf.
using Buckets = std::vector<std::pair<double, double>>;
// histogram_quantile semantics (linear interpolation in the bucket, the lowest bucket starting at
// 0 when its bound is positive; the +Inf bucket returns the highest finite bound; counts made
// monotonic); NaN when empty, with fewer than two buckets or without a last +Inf bucket; q < 0
// gives -Inf, q > 1 +Inf.
double HistogramQuantile(const Buckets& b, double q);
// Same bounds: counts added; else the union of bounds, each count read as the cumulative at that
// bound (the count of the highest bound <= it, 0 below the first).
Buckets AddBuckets(const Buckets& a, const Buckets& b);
// Counter deltas now - then; a reset (other bounds, or any count lower than before): `now`.
Buckets SubtractBuckets(const Buckets& now, const Buckets& then);

// What the hub observed on one node for the deployment's model, over the window the engine asks
// for (the hub computes the deltas between reports).
struct ModelObservation {
  std::string digest;               // installed and reported ("" none)
  bool ready = false;               // serving that digest
  std::string error;                // install/load failure reported for the target digest
  int64_t ready_since_ms = 0;       // when that digest became ready
  double success = 0, failure = 0;  // requests in the window
  Buckets buckets;                  // request-duration histogram delta in the window (seconds)
  bool fresh = true;                // reported recently enough
};
enum class RolloutPhase { kProgressing, kSucceeded, kRolledBack };
enum class BatchState { kPending, kInProgress, kSucceeded, kFailed };
std::string_view RolloutPhaseName(RolloutPhase p);  // progressing, succeeded, rolled_back
std::string_view BatchStateName(BatchState s);      // pending, in_progress, succeeded, failed
struct Batch {
  std::vector<std::string> nodes;
  BatchState state = BatchState::kPending;
  int64_t started_ms = 0, healthy_since_ms = 0, ended_ms = 0;
  std::string reason;
  int64_t last_failure_ms = 0;                    // the latest node failure in this batch (0 none)
  std::map<std::string, int64_t> stale_since_ms;  // nodes seen not fresh, since when (in progress only)
  bool operator==(const Batch&) const = default;
};
struct Rollout {
  std::string deployment;
  int64_t generation = 0;                 // the deployment's generation this rollout serves
  std::string from_package, from_digest;  // "" when this is the first package of the deployment
  std::string to_package, to_digest;
  RolloutPhase phase = RolloutPhase::kProgressing;
  std::vector<Batch> batches;
  std::vector<std::string> failed_nodes;
  int64_t started_ms = 0, updated_ms = 0;
  std::string reason;                                     // the last decision's reason
  double baseline_error_rate = -1, baseline_p95_ms = -1;  // the old version's, last measured (-1 unknown)
  bool operator==(const Rollout&) const = default;
};
struct RolloutLimits {
  size_t max_json_bytes = 16 << 20;  // the stored document
  size_t max_nodes = 100000;         // over all batches
  size_t max_string_bytes = 4096;    // a name, a package reference, a reason
};
// {"schema_version": 1, "deployment", "generation", "from_package", "from_digest", "to_package",
//  "to_digest", "phase", "batches": [{"nodes", "state", "started_ms", "healthy_since_ms",
//  "ended_ms", "reason", "last_failure_ms", "stale_since_ms": {node: ms}}], "failed_nodes",
//  "started_ms", "updated_ms", "reason", "baseline_error_rate", "baseline_p95_ms"}; every field
// required. ParseRollout also refuses a node in two batches, more than one batch in progress, an
// unknown phase or state, and from_package without from_digest (or the reverse). Reasons the
// engine writes are cut at 2 KiB, so what it writes always fits the limits.
std::string RolloutToJson(const Rollout& r);
StatusOr<Rollout> ParseRollout(std::string_view json);  // strict; the store keeps rollouts as this JSON
StatusOr<Rollout> ParseRollout(std::string_view json, const RolloutLimits& limits);

struct RolloutEvent {
  std::string kind;
  std::string node;
  std::string reason;
  bool operator==(const RolloutEvent&) const = default;
};  // kinds: started, batch_started, batch_succeeded, node_failed, rollback, succeeded, nodes_changed
// Starts a rollout over `nodes` (the deployment's selected nodes, in the order batches take them:
// nodes already running `to` come first, so they form the first batches and succeed at once).
// The first batch starts at once (in progress from now_ms); with no nodes the rollout has succeeded.
// Duplicate names are kept once.
Rollout StartRollout(std::string deployment, int64_t generation, std::string from_package,
                     std::string from_digest, std::string to_package, std::string to_digest,
                     std::vector<std::string> nodes, const RolloutStrategy& s, int64_t now_ms);
// The events of a rollout StartRollout just made: started, then batch_started for the first batch
// (or succeeded when it has no nodes).
std::vector<RolloutEvent> StartEvents(const Rollout& r);

struct AdvanceResult {
  Rollout rollout;
  std::vector<RolloutEvent> events;
};
// One tick: `observations` by node name for every node of the rollout (absent = nothing reported),
// `selected` the deployment's currently selected nodes (a node that left is dropped from pending
// batches; a new one is appended to the last pending batch or a new batch: event nodes_changed).
// The rules are at the top of this file. updated_ms becomes now_ms when anything changed.
AdvanceResult Advance(const Rollout& r, const RolloutStrategy& s,
                      const std::map<std::string, ModelObservation>& observations,
                      const std::vector<std::string>& selected, int64_t now_ms);
// The start of the metrics window the observations must cover: when the batch in progress (else
// the latest started batch, else the rollout) started.
int64_t MetricsWindowStartMs(const Rollout& r);

// The package a node must run under this rollout: `to` for nodes of started batches while
// progressing or succeeded, and for every selected node once succeeded; `from` otherwise (nullopt when from
// is ""). After rollback: `from` everywhere (nullopt when from is "").
struct Assignment {
  std::string package, digest;
  bool operator==(const Assignment&) const = default;
};
std::optional<Assignment> AssignmentFor(const Rollout& r, std::string_view node, bool selected);

}  // namespace continuum::fleet
