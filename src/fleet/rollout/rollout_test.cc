#include "fleet/rollout/rollout.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

namespace continuum::fleet {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kT0 = 1765000000000;
constexpr int64_t kSec = 1000;
const std::string kOld = "sha256:old";
const std::string kNew = "sha256:new";
const std::string kOldPackage = "reg/models/m@sha256:old";
const std::string kNewPackage = "reg/models/m@sha256:new";

using Observations = std::map<std::string, ModelObservation>;

// Requests answered within 10 ms (p95 9.75 ms) or between 20 and 50 ms (p95 48.5 ms).
Buckets Fast(double n) { return {{0.005, 0}, {0.01, n}, {0.02, n}, {0.05, n}, {kInf, n}}; }
Buckets Slow(double n) { return {{0.005, 0}, {0.01, 0}, {0.02, 0}, {0.05, n}, {kInf, n}}; }

ModelObservation Ready(const std::string& digest, int64_t since, double success = 0, double failure = 0,
                       bool slow = false) {
  ModelObservation o;
  o.digest = digest;
  o.ready = true;
  o.ready_since_ms = since;
  o.success = success;
  o.failure = failure;
  if (success + failure > 0) o.buckets = slow ? Slow(success + failure) : Fast(success + failure);
  return o;
}

std::vector<std::string> Kinds(const std::vector<RolloutEvent>& events) {
  std::vector<std::string> out;
  for (const RolloutEvent& e : events) out.push_back(e.kind);
  return out;
}

std::vector<BatchState> States(const Rollout& r) {
  std::vector<BatchState> out;
  for (const Batch& b : r.batches) out.push_back(b.state);
  return out;
}

using B = BatchState;

struct Fixture {
  RolloutStrategy s;
  std::vector<std::string> nodes;
  Rollout r;
  std::vector<RolloutEvent> events;

  void Start(const std::string& from_digest = kOld) {
    r = StartRollout("dep", 7, from_digest.empty() ? "" : kOldPackage, from_digest, kNewPackage, kNew, nodes,
                     s, kT0);
  }
  // One tick over every node still selected.
  void Tick(const Observations& obs, int64_t now, const std::vector<std::string>* selected = nullptr) {
    AdvanceResult a = Advance(r, s, obs, selected ? *selected : nodes, now);
    r = a.rollout;
    events = a.events;
  }
};

TEST(RolloutTest, CanaryThenBatchesEachHealthyForMinSuccess) {
  Fixture f;
  f.s.batch_size = 2;
  f.nodes = {"a", "b", "c", "d", "e"};
  f.Start();
  ASSERT_EQ(f.r.batches.size(), 3u);
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kInProgress, B::kPending, B::kPending}));
  EXPECT_EQ(Kinds(StartEvents(f.r)), (std::vector<std::string>{"started", "batch_started"}));
  Observations obs = {{"a", Ready(kNew, kT0 + 5 * kSec)},
                      {"b", Ready(kNew, kT0 + 10 * kSec)},
                      {"c", Ready(kOld, 0)},
                      {"d", Ready(kOld, 0)},
                      {"e", Ready(kOld, 0)}};
  f.Tick(obs, kT0 + 39 * kSec);  // healthy for 29 s
  EXPECT_TRUE(f.events.empty());
  EXPECT_EQ(f.r.batches[0].healthy_since_ms, kT0 + 10 * kSec);
  f.Tick(obs, kT0 + 40 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started"}));
  EXPECT_EQ(f.events[0].reason,
            "batch 1/3 (a, b): healthy for 30 s, no metrics verdict yet (0 requests on the new version, 20 "
            "needed): "
            "next batch");
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kSucceeded, B::kInProgress, B::kPending}));
  EXPECT_EQ(f.r.batches[1].started_ms, kT0 + 40 * kSec);
  EXPECT_EQ(MetricsWindowStartMs(f.r), kT0 + 40 * kSec);

  obs["c"] = Ready(kNew, kT0 + 45 * kSec);
  f.Tick(obs, kT0 + 80 * kSec);  // d is still on the old digest
  EXPECT_TRUE(f.events.empty());
  obs["d"] = Ready(kNew, kT0 + 81 * kSec);
  f.Tick(obs, kT0 + 110 * kSec);
  EXPECT_TRUE(f.events.empty());
  f.Tick(obs, kT0 + 111 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started"}));
  obs["e"] = Ready(kNew, kT0 + 115 * kSec);
  f.Tick(obs, kT0 + 145 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "succeeded"}));
  EXPECT_EQ(f.r.phase, RolloutPhase::kSucceeded);
  EXPECT_EQ(f.r.updated_ms, kT0 + 145 * kSec);
  EXPECT_EQ(f.r.reason, "rollout of " + kNewPackage + " succeeded on 5 nodes (0 failed)");
}

TEST(RolloutTest, PercentBatchesRoundUp) {
  Fixture f;
  f.s.batch_size = 7;  // overridden
  f.s.batch_percent = 25;
  for (int i = 0; i < 10; ++i) f.nodes.push_back("n" + std::to_string(i));
  f.Start();
  ASSERT_EQ(f.r.batches.size(), 4u);  // ceil(2.5) = 3: 3, 3, 3, 1
  EXPECT_EQ(f.r.batches[0].nodes, (std::vector<std::string>{"n0", "n1", "n2"}));
  EXPECT_EQ(f.r.batches[3].nodes, (std::vector<std::string>{"n9"}));
  EXPECT_EQ(BatchSizeFor(f.s, 1), 1);
  EXPECT_EQ(BatchSizeFor(f.s, 4), 1);
  EXPECT_EQ(BatchSizeFor(f.s, 5), 2);
}

TEST(RolloutTest, NodesAlreadyOnTheTargetSucceedAtOnce) {
  Fixture f;
  f.nodes = {"a", "b", "c"};
  f.Start();
  Observations obs = {
      {"a", Ready(kNew, kT0 - 3600 * kSec)}, {"b", Ready(kNew, kT0 - 60 * kSec)}, {"c", Ready(kOld, 0)}};
  f.Tick(obs, kT0);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started", "batch_succeeded",
                                                       "batch_started"}));
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kSucceeded, B::kSucceeded, B::kInProgress}));
}

TEST(RolloutTest, HealthTimeoutRollsBackWithNoFailureTolerated) {
  Fixture f;
  f.nodes = {"a", "b", "c"};
  f.Start();
  Observations obs = {{"a", Ready(kOld, 0)}, {"b", Ready(kOld, 0)}, {"c", Ready(kOld, 0)}};
  obs["a"].ready = false;
  obs["a"].digest = kNew;  // installing
  f.Tick(obs, kT0 + 119 * kSec);
  EXPECT_TRUE(f.events.empty());
  f.Tick(obs, kT0 + 120 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed", "rollback"}));
  EXPECT_EQ(f.events[0].node, "a");
  EXPECT_EQ(f.r.phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kFailed, B::kPending, B::kPending}));
  EXPECT_EQ(f.r.failed_nodes, (std::vector<std::string>{"a"}));
  EXPECT_EQ(
      f.r.reason,
      "rollback: batch 1/3 (a): a failed: is not ready on sha256:new 120 s after the batch started (health "
      "timeout 120 s); 1 failed nodes, more than max_failures 0");
  for (const char* n : {"a", "b", "c"})
    EXPECT_EQ(AssignmentFor(f.r, n, true), (Assignment{kOldPackage, kOld})) << n;
  // A rolled-back rollout no longer moves.
  AdvanceResult again = Advance(f.r, f.s, obs, f.nodes, kT0 + 500 * kSec);
  EXPECT_EQ(again.rollout, f.r);
  EXPECT_TRUE(again.events.empty());
}

TEST(RolloutTest, AnInstallErrorFailsTheNodeAtOnceAndSilenceAfterTheTimeout) {
  Fixture f;
  f.s.max_failures = 5;
  f.s.batch_size = 3;
  f.nodes = {"a", "b", "c"};
  f.Start();
  Observations obs = {{"a", Ready(kOld, 0)}, {"b", Ready(kNew, kT0 + kSec)}};
  obs["a"].error = "signature check failed";
  obs["b"].fresh = false;  // "c" reported nothing at all
  f.Tick(obs, kT0 + 2 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed"}));
  EXPECT_EQ(
      f.events[0].reason,
      "batch 1/1 (a, b, c): a failed: reports an error for sha256:new: signature check failed (1 failed, 5 "
      "tolerated)");
  EXPECT_EQ(f.r.batches[0].stale_since_ms,
            (std::map<std::string, int64_t>{{"b", kT0 + 2 * kSec}, {"c", kT0 + 2 * kSec}}));
  f.Tick(obs, kT0 + 121 * kSec);  // c: the health timeout; b: ready but silent for 119 s
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed"}));
  EXPECT_EQ(f.events[0].node, "c");
  f.Tick(obs, kT0 + 122 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed"}));
  EXPECT_EQ(f.events[0].node, "b");
  EXPECT_NE(f.events[0].reason.find("has not reported for 120 s"), std::string::npos) << f.events[0].reason;
}

TEST(RolloutTest, ReasonsStayBoundedAndStorable) {
  Fixture f;
  f.nodes = {std::string(3000, 'n'), "b"};
  f.Start();
  EXPECT_LE(f.r.reason.size(), 2048u);
  Observations obs;
  obs[f.nodes[0]] = Ready(kOld, 0);
  std::string error;
  for (int i = 0; i < 5000; ++i) error += "\xc3\xa9";  // é, two bytes each
  obs[f.nodes[0]].error = error;
  f.Tick(obs, kT0 + kSec);
  ASSERT_EQ(f.r.phase, RolloutPhase::kRolledBack);
  EXPECT_LE(f.r.reason.size(), 2048u);
  for (const RolloutEvent& e : f.events) EXPECT_LE(e.reason.size(), 2048u);
  StatusOr<Rollout> back = ParseRollout(RolloutToJson(f.r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, f.r);
}

TEST(RolloutTest, ToleratesMaxFailuresThenRollsBack) {
  Fixture f;
  f.s.max_failures = 1;
  f.s.batch_size = 2;
  f.nodes = {"a", "b", "c", "d"};
  f.Start();
  Observations obs = {
      {"a", Ready(kOld, 0)}, {"b", Ready(kNew, kT0 + kSec)}, {"c", Ready(kOld, 0)}, {"d", Ready(kOld, 0)}};
  obs["a"].error = "load failed";
  f.Tick(obs, kT0 + 10 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed"}));
  EXPECT_EQ(f.r.phase, RolloutPhase::kProgressing);
  // Healthy since the failure, not since b became ready.
  f.Tick(obs, kT0 + 39 * kSec);
  EXPECT_TRUE(f.events.empty());
  f.Tick(obs, kT0 + 40 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started"}));
  EXPECT_EQ(AssignmentFor(f.r, "a", true),
            (Assignment{kNewPackage, kNew}));  // a failed node keeps its batch's package
  obs["c"].error = "out of memory";
  f.Tick(obs, kT0 + 41 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"node_failed", "rollback"}));
  EXPECT_EQ(f.r.failed_nodes, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kSucceeded, B::kFailed}));
  EXPECT_NE(f.r.reason.find("2 failed nodes, more than max_failures 1"), std::string::npos) << f.r.reason;
}

TEST(RolloutTest, ErrorRateRegressionRollsBackOnlyFromMinRequests) {
  Fixture f;
  f.nodes = {"a", "b", "c"};
  f.Start();
  Observations obs = {
      {"a", Ready(kNew, kT0 + kSec, 5, 5)}, {"b", Ready(kOld, 0, 99, 1)}, {"c", Ready(kOld, 0, 99, 1)}};
  f.Tick(obs, kT0 + 10 * kSec);  // 10 requests on the new version: no verdict
  EXPECT_TRUE(f.events.empty());
  EXPECT_DOUBLE_EQ(f.r.baseline_error_rate, 0.01);
  EXPECT_DOUBLE_EQ(f.r.baseline_p95_ms, 9.75);
  obs["a"] = Ready(kNew, kT0 + kSec, 30, 10);
  f.Tick(obs, kT0 + 20 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"rollback"}));
  EXPECT_EQ(f.r.reason,
            "rollback: error rate 25.0% on the new version (a, 40 requests) vs 1.0% on the old (measured now "
            "on b, c): "
            "more than 5 points worse");
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kFailed, B::kPending, B::kPending}));
  EXPECT_TRUE(f.r.failed_nodes.empty());
}

TEST(RolloutTest, SmallErrorRateChangeAndFiguresInTheReason) {
  Fixture f;
  f.nodes = {"a", "b"};
  f.Start();
  Observations obs = {{"a", Ready(kNew, kT0 + kSec, 196, 4)}, {"b", Ready(kOld, 0, 199, 1)}};
  f.Tick(obs, kT0 + 31 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started"}));
  EXPECT_EQ(f.events[0].reason,
            "batch 1/2 (a): healthy for 30 s, error rate 2.0% vs 0.5%, p95 9.75 ms vs 9.75 ms: next batch");
}

TEST(RolloutTest, P95RegressionRollsBack) {
  Fixture f;
  f.nodes = {"a", "b"};
  f.Start();
  Observations obs = {{"a", Ready(kNew, kT0 + kSec, 50, 0, /*slow=*/true)}, {"b", Ready(kOld, 0, 50, 0)}};
  f.Tick(obs, kT0 + 5 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"rollback"}));
  EXPECT_EQ(
      f.r.reason,
      "rollback: p95 48.5 ms on the new version (a, 50 requests) vs 9.75 ms on the old (measured now on b): "
      "more than 50% slower");
  // The same latency within the margin passes.
  f.s.max_p95_increase = 5;
  f.Start();
  f.Tick(obs, kT0 + 5 * kSec);
  EXPECT_TRUE(f.events.empty());
  EXPECT_EQ(f.r.phase, RolloutPhase::kProgressing);
}

TEST(RolloutTest, TheStoredBaselineServesOnceNoOldNodesRemain) {
  Fixture f;
  f.nodes = {"a", "b"};
  f.Start();
  Observations obs = {{"a", Ready(kNew, kT0 + kSec, 100, 0)}, {"b", Ready(kOld, 0, 100, 0)}};
  f.Tick(obs, kT0 + 31 * kSec);  // batch 1 succeeds; the baseline is measured on b
  EXPECT_EQ(f.r.baseline_error_rate, 0);
  // Through the store: the baseline survives the JSON.
  StatusOr<Rollout> stored = ParseRollout(RolloutToJson(f.r));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  f.r = *stored;
  obs = {{"a", Ready(kNew, kT0 + kSec, 90, 10)}, {"b", Ready(kNew, kT0 + 35 * kSec, 90, 10)}};
  f.Tick(obs, kT0 + 40 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"rollback"}));
  EXPECT_NE(f.r.reason.find("vs 0.0% on the old (the stored baseline)"), std::string::npos) << f.r.reason;
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kSucceeded, B::kFailed}));
  EXPECT_EQ(AssignmentFor(f.r, "a", true), (Assignment{kOldPackage, kOld}));
}

TEST(RolloutTest, WithoutAnyOldFiguresHealthAloneDecides) {
  Fixture f;
  f.nodes = {"a"};
  f.Start();
  Observations obs = {{"a", Ready(kNew, kT0 + kSec, 50, 50)}};
  f.Tick(obs, kT0 + 31 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "succeeded"}));
  EXPECT_NE(f.r.batches[0].reason.find("error rate 50.0%, p95 9.75 ms (no old version to compare with)"),
            std::string::npos)
      << f.r.batches[0].reason;
}

TEST(RolloutTest, FirstPackageHasNoComparisonAndNoFromAssignment) {
  Fixture f;
  f.nodes = {"a", "b"};
  f.Start("");
  EXPECT_EQ(AssignmentFor(f.r, "a", true), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "b", true), std::nullopt);
  Observations obs = {{"a", Ready(kNew, kT0 + kSec, 50, 50, true)}, {"b", Ready("", 0)}};
  f.Tick(obs, kT0 + 31 * kSec);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"batch_succeeded", "batch_started"}));
  EXPECT_EQ(f.r.baseline_error_rate, -1);
  obs["b"].error = "pull failed";
  f.Tick(obs, kT0 + 32 * kSec);
  EXPECT_EQ(f.r.phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(AssignmentFor(f.r, "a", true), std::nullopt);
}

TEST(RolloutTest, NodesJoinAndLeave) {
  Fixture f;
  f.nodes = {"a", "b", "c"};
  f.Start();
  std::string started = f.r.reason;
  std::vector<std::string> selected = {"a", "c", "d", "e"};
  f.Tick({}, kT0 + kSec, &selected);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"nodes_changed", "nodes_changed", "nodes_changed"}));
  EXPECT_EQ(f.events[0].reason, "b left the selection: dropped from batch 2/3 (b)");
  EXPECT_EQ(f.events[1].reason, "d joined the selection: added to batch 3/4 (d)");
  EXPECT_EQ(f.events[2].node, "e");
  ASSERT_EQ(f.r.batches.size(), 4u);
  EXPECT_EQ(f.r.batches[1].nodes, (std::vector<std::string>{"c"}));
  EXPECT_EQ(f.r.batches[3].nodes, (std::vector<std::string>{"e"}));
  EXPECT_EQ(f.r.reason, started);  // membership changes are not decisions
  EXPECT_EQ(f.r.updated_ms, kT0 + kSec);
  // The canary leaves: its batch disappears and the next one starts.
  selected = {"c", "d", "e"};
  f.Tick({}, kT0 + 2 * kSec, &selected);
  EXPECT_EQ(Kinds(f.events), (std::vector<std::string>{"nodes_changed", "batch_started"}));
  EXPECT_EQ(States(f.r), (std::vector<B>{B::kInProgress, B::kPending, B::kPending}));
  EXPECT_EQ(f.r.batches[0].nodes, (std::vector<std::string>{"c"}));
  EXPECT_EQ(f.r.batches[0].started_ms, kT0 + 2 * kSec);
  // Joining with room in the last pending batch.
  f.s.batch_size = 3;
  selected = {"c", "d", "e", "f"};
  f.Tick({}, kT0 + 3 * kSec, &selected);
  EXPECT_EQ(f.r.batches.back().nodes, (std::vector<std::string>{"e", "f"}));
}

TEST(RolloutTest, AnEmptyRolloutHasSucceeded) {
  Fixture f;
  f.Start();
  EXPECT_EQ(f.r.phase, RolloutPhase::kSucceeded);
  EXPECT_EQ(Kinds(StartEvents(f.r)), (std::vector<std::string>{"started", "succeeded"}));
  EXPECT_EQ(AssignmentFor(f.r, "x", true), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "x", false), (Assignment{kOldPackage, kOld}));
}

TEST(RolloutTest, AssignmentInEveryPhase) {
  Fixture f;
  f.nodes = {"a", "b"};
  f.Start();
  // Progressing: the started batch runs `to`, the rest `from`.
  EXPECT_EQ(AssignmentFor(f.r, "a", true), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "b", true), (Assignment{kOldPackage, kOld}));
  EXPECT_EQ(AssignmentFor(f.r, "z", true), (Assignment{kOldPackage, kOld}));
  Observations obs = {{"a", Ready(kNew, kT0)}, {"b", Ready(kNew, kT0)}};
  f.Tick(obs, kT0 + 30 * kSec);
  ASSERT_EQ(f.r.phase, RolloutPhase::kSucceeded);
  // Succeeded: every selected node runs `to`; a node outside the batches that is not selected `from`.
  EXPECT_EQ(AssignmentFor(f.r, "b", true), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "b", false), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "z", true), (Assignment{kNewPackage, kNew}));
  EXPECT_EQ(AssignmentFor(f.r, "z", false), (Assignment{kOldPackage, kOld}));
  // Rolled back: `from` everywhere.
  f.Start();
  obs["a"].error = "broken";
  f.Tick(obs, kT0 + kSec);
  ASSERT_EQ(f.r.phase, RolloutPhase::kRolledBack);
  for (const char* n : {"a", "b", "z"})
    EXPECT_EQ(AssignmentFor(f.r, n, true), (Assignment{kOldPackage, kOld})) << n;
}

TEST(RolloutTest, AdvanceIsDeterministicAndIdempotent) {
  Fixture f;
  f.s.batch_size = 2;
  f.nodes = {"a", "b", "c", "d", "e"};
  f.Start();
  Observations obs = {{"a", Ready(kNew, kT0 - 100 * kSec, 100, 1)},
                      {"b", Ready(kNew, kT0 - 100 * kSec, 100, 1)},
                      {"c", Ready(kOld, 0, 100, 1)}};
  obs["c"].fresh = false;
  std::vector<std::string> selected = {"a", "b", "c", "e", "f"};
  AdvanceResult once = Advance(f.r, f.s, obs, selected, kT0 + 5 * kSec);
  AdvanceResult same = Advance(f.r, f.s, obs, selected, kT0 + 5 * kSec);
  EXPECT_EQ(once.rollout, same.rollout);
  EXPECT_EQ(once.events, same.events);
  EXPECT_EQ(RolloutToJson(once.rollout), RolloutToJson(same.rollout));
  EXPECT_FALSE(once.events.empty());
  AdvanceResult twice = Advance(once.rollout, f.s, obs, selected, kT0 + 5 * kSec);
  EXPECT_EQ(twice.rollout, once.rollout);
  EXPECT_TRUE(twice.events.empty());
}

}  // namespace
}  // namespace continuum::fleet
