// The rollout engine's decisions (rules in rollout.h).
#include "fleet/rollout/rollout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace continuum::fleet {
namespace {

constexpr size_t kNamesInReason = 5;      // nodes named in a reason before "+N more"
constexpr size_t kMaxReasonBytes = 2048;  // a reason is cut here (the stored form allows 4096)
constexpr double kMaxRequests = 1e15;     // a node's request count beyond this is read as this

// `s` cut to `max` bytes at a UTF-8 character boundary, "..." marking the cut.
std::string Clip(std::string s, size_t max = kMaxReasonBytes) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s + "...";
}

std::string NodeListText(const std::vector<std::string>& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size() && i < kNamesInReason; ++i) {
    if (i > 0) out += ", ";
    out += nodes[i];
  }
  if (nodes.size() > kNamesInReason) out += ", +" + std::to_string(nodes.size() - kNamesInReason) + " more";
  return out;
}

std::string BatchLabel(const Rollout& r, size_t i) {
  return "batch " + std::to_string(i + 1) + "/" + std::to_string(r.batches.size()) + " (" +
         NodeListText(r.batches[i].nodes) + ")";
}

std::string Format(const char* format, double v) {
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return text;
}
std::string Percent(double fraction) { return Format("%.1f%%", fraction * 100); }
std::string Millis(double ms) { return Format(ms >= 100 ? "%.0f ms" : "%.3g ms", ms); }
std::string Seconds(int64_t ms) { return Format("%g s", static_cast<double>(ms) / 1000); }

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The batch in progress, or -1.
int CurrentBatch(const Rollout& r) {
  for (size_t i = 0; i < r.batches.size(); ++i) {
    if (r.batches[i].state == BatchState::kInProgress) return static_cast<int>(i);
  }
  return -1;
}

const ModelObservation* Find(const std::map<std::string, ModelObservation>& obs, const std::string& node) {
  auto it = obs.find(node);
  return it == obs.end() ? nullptr : &it->second;
}

bool ReadyOn(const ModelObservation* o, const std::string& digest) {
  return o != nullptr && o->ready && o->digest == digest && o->error.empty();
}

// One tick's work in progress.
struct Tick {
  Rollout r;
  const RolloutStrategy& s;
  const std::map<std::string, ModelObservation>& obs;
  int64_t now;
  std::vector<RolloutEvent> events;
  bool changed = false;

  void Event(std::string kind, std::string node, std::string reason, bool decision = true) {
    reason = Clip(std::move(reason));
    if (decision) r.reason = reason;
    events.push_back({std::move(kind), std::move(node), std::move(reason)});
    changed = true;
  }
  // Ends the rollout: the batch in progress failed, every node back to `from`.
  void Rollback(const std::string& reason) {
    int i = CurrentBatch(r);
    if (i >= 0) {
      Batch& b = r.batches[static_cast<size_t>(i)];
      b.state = BatchState::kFailed;
      b.ended_ms = now;
      b.reason = Clip("rollback: " + reason);
      b.stale_since_ms.clear();
    }
    r.phase = RolloutPhase::kRolledBack;
    Event("rollback", "", "rollback: " + reason);
  }
};

// Rule 1: nodes that left the selection leave the batches that have not ended; new ones join.
void ApplySelection(Tick& t, const std::vector<std::string>& selected) {
  std::set<std::string> sel(selected.begin(), selected.end());
  std::vector<RolloutEvent> left;
  for (size_t i = 0; i < t.r.batches.size(); ++i) {
    Batch& b = t.r.batches[i];
    if (b.state != BatchState::kPending && b.state != BatchState::kInProgress) continue;
    for (const std::string& n : b.nodes) {
      if (!sel.count(n))
        left.push_back({"nodes_changed", n, n + " left the selection: dropped from " + BatchLabel(t.r, i)});
    }
    std::erase_if(b.nodes, [&](const std::string& n) { return !sel.count(n); });
    std::erase_if(b.stale_since_ms, [&](const auto& e) { return !sel.count(e.first); });
  }
  std::erase_if(t.r.batches, [](const Batch& b) {
    return b.nodes.empty() && (b.state == BatchState::kPending || b.state == BatchState::kInProgress);
  });
  for (RolloutEvent& e : left) t.Event(e.kind, e.node, e.reason, false);
  std::set<std::string> known;
  for (const Batch& b : t.r.batches) known.insert(b.nodes.begin(), b.nodes.end());
  std::vector<std::string> joined;
  for (const std::string& n : selected) {
    if (known.insert(n).second) joined.push_back(n);
  }
  if (joined.empty()) return;
  auto size = static_cast<size_t>(BatchSizeFor(t.s, known.size()));
  std::vector<size_t> batch_of;  // the batch each joined node went to
  for (const std::string& n : joined) {
    if (t.r.batches.empty() || t.r.batches.back().state != BatchState::kPending ||
        t.r.batches.back().nodes.size() >= size) {
      t.r.batches.emplace_back();
    }
    t.r.batches.back().nodes.push_back(n);
    batch_of.push_back(t.r.batches.size() - 1);
  }
  for (size_t j = 0; j < joined.size(); ++j) {
    t.Event("nodes_changed", joined[j],
            joined[j] + " joined the selection: added to " + BatchLabel(t.r, batch_of[j]), false);
  }
}

// Starts the first pending batch when none is in progress; with none left, the rollout succeeded.
bool StartNext(Tick& t) {
  if (CurrentBatch(t.r) >= 0) return false;
  for (size_t i = 0; i < t.r.batches.size(); ++i) {
    Batch& b = t.r.batches[i];
    if (b.state != BatchState::kPending) continue;
    b.state = BatchState::kInProgress;
    b.started_ms = t.now;
    b.reason = "started";
    t.Event("batch_started", "", BatchLabel(t.r, i) + " started");
    return true;
  }
  size_t nodes = 0;
  for (const Batch& b : t.r.batches) nodes += b.nodes.size();
  t.r.phase = RolloutPhase::kSucceeded;
  t.Event("succeeded", "",
          "rollout of " + t.r.to_package + " succeeded on " + std::to_string(nodes) + " nodes (" +
              std::to_string(t.r.failed_nodes.size()) + " failed)");
  return true;
}

// Why `node` of the batch in progress has failed, or "" while it has not.
std::string FailureOf(Tick& t, Batch& b, const std::string& node) {
  const ModelObservation* o = Find(t.obs, node);
  bool fresh = o != nullptr && o->fresh;
  auto stale = b.stale_since_ms.find(node);
  if (!fresh && stale == b.stale_since_ms.end()) {
    stale = b.stale_since_ms.emplace(node, t.now).first;
    t.changed = true;
  } else if (fresh && stale != b.stale_since_ms.end()) {
    b.stale_since_ms.erase(stale);
    stale = b.stale_since_ms.end();
    t.changed = true;
  }
  int64_t timeout = t.s.health_timeout_ms;
  if (o != nullptr && !o->error.empty())
    return "reports an error for " + t.r.to_digest + ": " + Clip(o->error, 512);
  if (!ReadyOn(o, t.r.to_digest) && t.now - b.started_ms >= timeout) {
    std::string after = " " + Seconds(t.now - b.started_ms) + " after the batch started (health timeout " +
                        Seconds(timeout) + ")";
    if (o == nullptr) return "has reported nothing" + after;
    if (o->digest != t.r.to_digest) {
      return "is not running " + t.r.to_digest + after + " (it reports " +
             (o->digest.empty() ? "none" : o->digest) + ")";
    }
    return "is not ready on " + t.r.to_digest + after;
  }
  if (stale != b.stale_since_ms.end() && t.now - stale->second >= timeout) {
    return "has not reported for " + Seconds(t.now - stale->second) + " (health timeout " + Seconds(timeout) +
           ")";
  }
  return "";
}

// Rule 2: the health of the batch in progress, node by node.
void CheckHealth(Tick& t) {
  int i = CurrentBatch(t.r);
  if (i < 0) return;
  auto bi = static_cast<size_t>(i);
  for (const std::string& node : t.r.batches[bi].nodes) {
    if (Contains(t.r.failed_nodes, node)) continue;
    Batch& b = t.r.batches[bi];
    std::string why = FailureOf(t, b, node);
    if (why.empty()) continue;
    t.r.failed_nodes.push_back(node);
    b.last_failure_ms = t.now;
    b.stale_since_ms.erase(node);
    size_t failed = t.r.failed_nodes.size();
    std::string reason = BatchLabel(t.r, bi) + ": " + node + " failed: " + why;
    t.Event("node_failed", node,
            reason + " (" + std::to_string(failed) + " failed, " + std::to_string(t.s.max_failures) +
                " tolerated)");
    if (static_cast<int64_t>(failed) > t.s.max_failures) {
      t.Rollback(reason + "; " + std::to_string(failed) + " failed nodes, more than max_failures " +
                 std::to_string(t.s.max_failures));
      return;
    }
  }
}

// Requests and durations summed over some nodes.
struct Figures {
  double success = 0, failure = 0;
  Buckets buckets;
  std::vector<std::string> nodes;
  double requests() const { return success + failure; }
  double error_rate() const { return requests() > 0 ? failure / requests() : 0; }
  double p95_ms() const { return HistogramQuantile(buckets, 0.95) * 1000; }  // NaN when unknown
  void Add(const std::string& node, const ModelObservation& o) {
    success += std::clamp(std::isfinite(o.success) ? o.success : 0.0, 0.0, kMaxRequests);
    failure += std::clamp(std::isfinite(o.failure) ? o.failure : 0.0, 0.0, kMaxRequests);
    buckets = AddBuckets(buckets, o.buckets);
    nodes.push_back(node);
  }
};

// The new version's figures: nodes of started batches reporting the target digest.
Figures NewFigures(const Tick& t) {
  Figures f;
  for (const Batch& b : t.r.batches) {
    if (b.state == BatchState::kPending) continue;
    for (const std::string& n : b.nodes) {
      const ModelObservation* o = Find(t.obs, n);
      if (o != nullptr && o->digest == t.r.to_digest) f.Add(n, *o);
    }
  }
  return f;
}

// The old version's: every observed node still reporting from_digest.
Figures OldFigures(const Tick& t) {
  Figures f;
  if (t.r.from_digest.empty()) return f;
  for (const auto& [n, o] : t.obs) {
    if (o.digest == t.r.from_digest) f.Add(n, o);
  }
  return f;
}

std::string FiguresText(double new_rate, double new_p95, double old_rate, double old_p95) {
  std::string out = "error rate " + Percent(new_rate);
  if (old_rate >= 0) out += " vs " + Percent(old_rate);
  if (std::isfinite(new_p95)) {
    out += ", p95 " + Millis(new_p95);
    if (old_p95 >= 0) out += " vs " + Millis(old_p95);
  }
  return out;
}

// Rule 3: the metrics verdict. Returns the figures for the next decision's reason; rolls back on a
// regression.
std::string CheckMetrics(Tick& t) {
  Figures now = NewFigures(t), old = OldFigures(t);
  auto min_requests = static_cast<double>(t.s.min_requests);
  bool old_measured = old.requests() >= min_requests;
  if (old_measured) {
    double p95 = old.p95_ms();
    double p95_stored = std::isfinite(p95) ? p95 : -1;
    if (t.r.baseline_error_rate != old.error_rate() || t.r.baseline_p95_ms != p95_stored) {
      t.r.baseline_error_rate = old.error_rate();
      t.r.baseline_p95_ms = p95_stored;
      t.changed = true;
    }
  }
  if (now.requests() < min_requests) {
    return "no metrics verdict yet (" + Format("%.0f", now.requests()) + " requests on the new version, " +
           std::to_string(t.s.min_requests) + " needed)";
  }
  double new_rate = now.error_rate(), new_p95 = now.p95_ms();
  bool have_old = !t.r.from_digest.empty() && t.r.baseline_error_rate >= 0;
  double old_rate = have_old ? t.r.baseline_error_rate : -1;
  double old_p95 = have_old ? t.r.baseline_p95_ms : -1;
  std::string figures = FiguresText(new_rate, new_p95, old_rate, old_p95);
  if (!have_old) return figures + " (no old version to compare with)";
  std::string source = old_measured ? "measured now on " + NodeListText(old.nodes) : "the stored baseline";
  std::string where = " on the new version (" + NodeListText(now.nodes) + ", " +
                      Format("%.0f", now.requests()) + " requests)";
  if (new_rate - old_rate > t.s.max_error_rate_increase) {
    t.Rollback("error rate " + Percent(new_rate) + where + " vs " + Percent(old_rate) + " on the old (" +
               source + "): more than " + Format("%.3g", t.s.max_error_rate_increase * 100) +
               " points worse");
    return figures;
  }
  if (std::isfinite(new_p95) && old_p95 > 0 && new_p95 / old_p95 - 1 > t.s.max_p95_increase) {
    t.Rollback("p95 " + Millis(new_p95) + where + " vs " + Millis(old_p95) + " on the old (" + source +
               "): more than " + Format("%.3g", t.s.max_p95_increase * 100) + "% slower");
  }
  return figures;
}

// Rule 4: the batch in progress succeeds after min_success_ms of health.
bool CheckSuccess(Tick& t, const std::string& figures) {
  int i = CurrentBatch(t.r);
  if (i < 0) return false;
  auto bi = static_cast<size_t>(i);
  Batch& b = t.r.batches[bi];
  int64_t healthy_since = std::max(b.last_failure_ms, int64_t{0});
  bool any = false;
  for (const std::string& node : b.nodes) {
    if (Contains(t.r.failed_nodes, node)) continue;
    const ModelObservation* o = Find(t.obs, node);
    if (!ReadyOn(o, t.r.to_digest) || !o->fresh) {
      if (b.healthy_since_ms != 0) t.changed = true;
      b.healthy_since_ms = 0;
      return false;
    }
    healthy_since = std::max(healthy_since, std::max(int64_t{0}, std::min(o->ready_since_ms, t.now)));
    any = true;
  }
  if (!any) healthy_since = std::max(healthy_since, b.started_ms);
  if (b.healthy_since_ms != healthy_since) t.changed = true;
  b.healthy_since_ms = healthy_since;
  if (t.now - healthy_since < t.s.min_success_ms) return false;
  bool last = true;
  for (size_t j = bi + 1; j < t.r.batches.size(); ++j)
    last = last && t.r.batches[j].state != BatchState::kPending;
  std::string reason = BatchLabel(t.r, bi) + ": healthy for " + Seconds(t.now - healthy_since) + ", " +
                       figures + (last ? ": rollout complete" : ": next batch");
  b.state = BatchState::kSucceeded;
  b.ended_ms = t.now;
  b.reason = Clip(reason);
  b.stale_since_ms.clear();
  t.Event("batch_succeeded", "", reason);
  return true;
}

}  // namespace

int64_t BatchSizeFor(const RolloutStrategy& s, size_t nodes) {
  if (s.batch_percent > 0) {
    auto n = static_cast<int64_t>(nodes);
    return std::max<int64_t>(1, (n * std::min<int64_t>(s.batch_percent, 100) + 99) / 100);
  }
  return std::max<int64_t>(1, s.batch_size);
}

Rollout StartRollout(std::string deployment, int64_t generation, std::string from_package,
                     std::string from_digest, std::string to_package, std::string to_digest,
                     std::vector<std::string> nodes, const RolloutStrategy& s, int64_t now_ms) {
  Rollout r;
  r.deployment = std::move(deployment);
  r.generation = generation;
  r.from_package = std::move(from_package);
  r.from_digest = std::move(from_digest);
  r.to_package = std::move(to_package);
  r.to_digest = std::move(to_digest);
  r.started_ms = r.updated_ms = now_ms;
  std::set<std::string> seen;
  std::erase_if(nodes, [&](const std::string& n) { return !seen.insert(n).second; });
  auto size = static_cast<size_t>(BatchSizeFor(s, nodes.size()));
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i % size == 0) r.batches.emplace_back();
    r.batches.back().nodes.push_back(std::move(nodes[i]));
  }
  if (r.batches.empty()) {
    r.phase = RolloutPhase::kSucceeded;
    r.reason = "no selected nodes: nothing to roll out";
    return r;
  }
  r.batches[0].state = BatchState::kInProgress;
  r.batches[0].started_ms = now_ms;
  r.batches[0].reason = "started";
  r.reason =
      Clip("started: " + std::to_string(seen.size()) + " nodes in " + std::to_string(r.batches.size()) +
           " batches of up to " + std::to_string(size) + "; " + BatchLabel(r, 0) + " started (the canary)");
  return r;
}

std::vector<RolloutEvent> StartEvents(const Rollout& r) {
  std::string what = "rollout of " + r.to_package + " (from " +
                     (r.from_package.empty() ? "nothing" : r.from_package) + ") started";
  std::vector<RolloutEvent> out = {{"started", "", what + ": " + r.reason}};
  if (r.phase == RolloutPhase::kSucceeded) {
    out.push_back({"succeeded", "", r.reason});
  } else if (!r.batches.empty() && r.batches[0].state == BatchState::kInProgress) {
    out.push_back({"batch_started", "", BatchLabel(r, 0) + " started (the canary)"});
  }
  return out;
}

AdvanceResult Advance(const Rollout& r, const RolloutStrategy& s,
                      const std::map<std::string, ModelObservation>& observations,
                      const std::vector<std::string>& selected, int64_t now_ms) {
  if (r.phase != RolloutPhase::kProgressing) return {r, {}};
  Tick t{r, s, observations, now_ms, {}, false};
  ApplySelection(t, selected);
  // Each pass ends at most one batch, so batches + 2 passes reach the point where nothing moves.
  for (size_t pass = 0, passes = t.r.batches.size() + 2; pass < passes; ++pass) {
    bool moved = StartNext(t);
    if (t.r.phase != RolloutPhase::kProgressing) break;
    CheckHealth(t);
    if (t.r.phase != RolloutPhase::kProgressing) break;
    std::string figures = CheckMetrics(t);
    if (t.r.phase != RolloutPhase::kProgressing) break;
    moved = CheckSuccess(t, figures) || moved;
    if (!moved) break;
  }
  if (t.changed) t.r.updated_ms = now_ms;
  return {std::move(t.r), std::move(t.events)};
}

int64_t MetricsWindowStartMs(const Rollout& r) {
  int i = CurrentBatch(r);
  if (i >= 0) return r.batches[static_cast<size_t>(i)].started_ms;
  int64_t latest = r.started_ms;
  for (const Batch& b : r.batches) {
    if (b.state != BatchState::kPending) latest = std::max(latest, b.started_ms);
  }
  return latest;
}

std::optional<Assignment> AssignmentFor(const Rollout& r, std::string_view node, bool selected) {
  std::optional<Assignment> from;
  if (!r.from_digest.empty()) from = Assignment{r.from_package, r.from_digest};
  if (r.phase == RolloutPhase::kRolledBack) return from;
  Assignment to{r.to_package, r.to_digest};
  if (r.phase == RolloutPhase::kSucceeded && selected) return to;
  for (const Batch& b : r.batches) {
    if (b.state != BatchState::kPending && Contains(b.nodes, node)) return to;
  }
  return from;
}

}  // namespace continuum::fleet
