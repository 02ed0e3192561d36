// Routing core: decides which tier (device, edge site, cloud region) serves an inference request.
// A pure library: no networking. The gateway feeds it observations (transfers, probes, compute
// times, queue depths, failures) and asks it for a Decision per request.
//
// The topology file and the policy a request carries: formats, types and parsers in topology.h.
//
// ---------------------------------------------------------------------------------------------
// Policy semantics:
//  * residency fails closed: with a class set, a node qualifies only if its jurisdiction list
//    contains the class. Choice, fallbacks and hedge are all drawn from qualifying nodes only.
//  * fastest: least predicted end-to-end time.
//  * cheapest / least_energy: least cost / energy among nodes predicted within the latency target
//    (all nodes when no target); when none is within target, the fastest.
//  * prefer_tier: among nodes equally eligible (within target, or all when no target), nodes of
//    that tier rank first.
//  * hedge: a second request to the runner-up after ~p95 of the choice. Every hedge=on decision
//    carries one; whether it is sent is decided when its delay has passed and the choice has not
//    answered (TryStartHedge: a token bucket earning hedge_fraction per decision), so the budget
//    is spent only on hedges that go out (<= 5% extra requests) and any request may be rescued.
//    The same budget pays for exploration copies (RouterOptions::explore_after): a large request
//    also sent to a node whose bandwidth estimate went stale.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "router/topology.h"

namespace continuum::router {

// ---------------------------------------------------------------------------------------------
// Placement.

struct Request {
  std::string model;
  int64_t version = 0;  // 0: any version
  uint64_t input_bytes = 0;
  uint64_t expected_output_bytes = 0;
  Policy policy;  // as given by the request; merged over model_defaults by Decide
};

struct Candidate {
  std::string node;
  Tier tier = Tier::kCloud;
  double predicted_ms = 0;  // rtt + transfer + queue + compute
  double rtt_ms = 0;
  double transfer_ms = 0;  // (in + out bytes) / bandwidth
  double queue_ms = 0;     // max(depth * compute, outstanding work) / instances, + overdue time * weight
  double compute_ms = 0;
  double p95_ms = 0;    // predicted end-to-end with p95 compute
  double cost = 0;      // compute seconds * cost_per_compute_second
  double energy_j = 0;  // compute seconds * energy_per_compute_second
  bool within_target = true;
};

struct Hedge {
  std::string node;
  double delay_ms = 0;
  // An exploration copy (see RouterOptions::explore_after): sent with the choice, to this node,
  // and already paid for from the hedge budget. The first good answer still wins.
  bool explore = false;
};

struct Decision {
  Policy policy;                       // the effective (merged) policy
  std::string choice;                  // node name
  std::string url;                     // of the choice
  std::vector<std::string> fallbacks;  // runner-ups in order; same residency class as the choice
  std::optional<Hedge> hedge;
  std::vector<Candidate> candidates;  // ranked: candidates[0] is the choice
  std::string reason;                 // short human explanation
  // The topology the decision was made on: the request is sent by its URLs even when a newer
  // topology (SetTopology) removed the chosen node meanwhile.
  std::shared_ptr<const Topology> topology;
};

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct RouterOptions {
  int eject_after_failures = 3;  // consecutive failures that eject a node
  size_t compute_window = 24;    // recent runs the compute median and p95 are taken over (<= 32)
  double hedge_fraction = 0.05;  // tokens earned per decision; a hedge sent costs one
  // Bucket capacity: stragglers come in bursts (a stall catches several requests at once, and
  // nodes stall together). The bound of hedge_fraction extra requests holds at any capacity: the
  // bucket starts empty and earns only hedge_fraction per decision.
  double hedge_burst = 30.0;
  // The share of hedge=on requests whose hedge should fall due (the choice still unanswered after
  // the hedge delay); the delay adapts to it. Below hedge_fraction, so that tokens are left for the
  // requests that need them (a straggler's queue) instead of being spent on ordinary jitter.
  double hedge_due_share = 0.025;
  // A node with an answer overdue beyond its predicted p95 by X ms is predicted to take
  // overdue_weight x X ms more (see ReportEarliestDue).
  double overdue_weight = 4.0;
  double default_rtt_ms = 50;  // for nodes without a link from the origin
  double default_bandwidth_mbps = 100;
  std::chrono::milliseconds probe_interval{5000};  // how often NodesToProbe lists an ejected node
  // A healthy node that answered nothing for this long is listed by NodesToRefresh, so the link
  // estimate of a node the router stopped choosing (a slow link, say) recovers when the link does.
  // Zero: never.
  std::chrono::milliseconds refresh_interval{250};
  // Light probes refresh a link's round trip, but its bandwidth is sampled only by exchanges of
  // Estimators::kLatencySampleBytes or more, which go where the estimate says they are fastest: a
  // link estimated slow stays so, even after it got fast again without an outage. A link that got
  // better shows it in its round trip, which the probes do follow. So when a candidate's bandwidth
  // estimate is older than explore_after and its rtt estimate has fallen to explore_rtt_share of
  // what it was when the bandwidth was last sampled, a request of explore_min_bytes or more (input
  // + expected output) sends a copy there at once, alongside its choice, if the hedge budget has a
  // token (it pays one); the best-ranked such candidate, once per explore_after. Whichever answers
  // first is the answer; both answers are learned from. A link whose rtt did not improve is not
  // explored: a copy over a link still congested would hold it up for the traffic it carries.
  // Never for a request that carries a hedge of its own. explore_after zero: never.
  std::chrono::milliseconds explore_after{10000};
  double explore_rtt_share = 0.75;
  uint64_t explore_min_bytes = 64 * 1024;
  Clock clock;  // default: system_clock::now
};

class Estimators;

// Thread-safe. Two locks, always taken in this order (never the other way round):
//   1. Router::mu_      health, hedge budget, answer times; held through a decision
//   2. Estimators::mu_  the estimates; taken while mu_ is held (CandidatesLocked, ExploreLocked
//                       read the estimators) and on its own by the Observe* calls
// The estimators never call back into the router, and the router calls no code of its callers
// (the clock aside, which must not call the router) with either held.
class Router {
 public:
  explicit Router(Topology topology, RouterOptions options = {});
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The topology of this moment: a snapshot, kept alive by its holders after SetTopology
  // replaced it (a request in flight goes on with the nodes it was planned with).
  std::shared_ptr<const Topology> topology() const;

  // Replaces the topology (a hub's rollout moved, a node joined or left). Thread-safe with every
  // other call. A node that stays (same name) keeps its estimates, health and answer times, even
  // when its url changed; its compute seeds are taken only for models it did not hold before, and
  // its declared link only seeds a node without one. A new node starts fresh (seeded from the
  // topology, as at construction). A removed node is forgotten: reports about it that arrive
  // later (the answers of requests still in flight) are ignored.
  void SetTopology(Topology topology);

  // Errors: InvalidArgument (unknown residency class, bad policy), NotFound (no node holds the
  // model version at all), Unavailable ("no candidate": nothing healthy qualifies).
  StatusOr<Decision> Decide(const Request& request);

  // Called when a decision's hedge is due (its delay passed, the choice has not answered): takes a
  // token from the hedge budget and says whether the hedge may go out.
  bool TryStartHedge();
  // A request sent to `node` (its choice), predicted at `p95_ms`, was answered `elapsed_ms` later.
  // The hedge delay is the choice's predicted p95 times the node's scale: the quantile
  // 1 - hedge_due_share of (elapsed / predicted p95) over the node's last kAnswerWindow answers,
  // taken again every 16 answers once there are 32 (until then, the same over all nodes' answers,
  // or 1 before there are 32 of those either; within [0.25, 64]). So the
  // predictions' own misses (link jitter, a busy machine) spend no hedges, whatever their size,
  // and hedges fall due for about hedge_due_share of the requests (as Finagle's backup requests
  // take their delay from a latency percentile). Per node, because how far a prediction misses
  // differs by node: a sub-millisecond local run misses by more, relatively, than a remote one.
  static constexpr size_t kAnswerWindow = 256;
  void ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms);
  double HedgeDelayScale(std::string_view node) const;
  // The node a hedge due now should go to: the fastest by the estimates of this moment (a node
  // held up since the decision loses its place), among the healthy nodes in the request's
  // residency class that hold the model, except `busy` (those already serving the request).
  // nullopt when there is none.
  std::optional<std::string> PickHedge(const Request& request, const std::vector<std::string>& busy);

  // Outcomes of dispatches (a success resets the consecutive-failure count; N failures eject).
  void ReportSuccess(std::string_view node);
  void ReportFailure(std::string_view node);
  // A health probe; success re-admits an ejected node; rtt feeds the link estimate.
  void ProbeResult(std::string_view node, bool ok, std::optional<double> rtt_ms = std::nullopt);
  bool IsHealthy(std::string_view node) const;
  // Ejected nodes whose last probe is older than probe_interval; marks them as probed now.
  std::vector<std::string> NodesToProbe();

  // Healthy nodes that answered nothing for refresh_interval (light rtt probes are due); marks
  // them as refreshed now. Feed the probe's outcome to ObserveRtt + ReportSuccess or ReportFailure.
  std::vector<std::string> NodesToRefresh();

  // Observations.
  // `explored`: the answer to an exploration copy (Hedge::explore): its bandwidth sample starts
  // the window anew, as the link changed (its rtt said so) and the samples before are of the
  // old link; one sample of the new one would not move their median.
  void ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool explored = false);
  void ObserveRtt(std::string_view node, double rtt_ms);
  void ObserveCompute(std::string_view node, std::string_view model, double compute_ms);
  void ReportQueueDepth(std::string_view node, double depth);
  // The earliest time by which a request sent to the node and not yet answered was predicted to
  // be answered (its send time + its predicted p95; nullopt: none outstanding). Past it, the node
  // is slower than its estimates right now (a straggler holding its queue, a stall): the time
  // overdue, times overdue_weight, is added to its predicted wait, so new requests go elsewhere
  // until it answers.
  void ReportEarliestDue(std::string_view node, std::optional<std::chrono::system_clock::time_point> due);
  // The same, with the compute predicted for the requests outstanding there (each at its model's
  // median run on that node when it was sent): the queue a new request would wait behind is at
  // least that work, when it exceeds what the queue depth x this model's run predicts (a large
  // model's run ahead of a small one's).
  void ReportOutstanding(std::string_view node, std::optional<std::chrono::system_clock::time_point> due,
                         double work_ms);

  bool IsEjected(std::string_view node) const;

  // Current estimates (for tests and /metrics).
  double EstimatedRttMs(std::string_view node) const;
  double EstimatedBandwidthMbps(std::string_view node) const;
  double EstimatedComputeMs(std::string_view node, std::string_view model) const;
  double EstimatedComputeP95Ms(std::string_view node, std::string_view model) const;

  std::chrono::system_clock::time_point Now() const { return options_.clock(); }

 private:
  // The request's policy merged over the topology's defaults for its model.
  Policy EffectivePolicy(const Request& request) const REQUIRES(mu_);
  // The healthy candidates in the policy's residency class, with predictions (unranked); sets
  // whether any node holds the model and whether any of those is in the class. Needs mu_.
  std::vector<Candidate> CandidatesLocked(const Request& request, const Policy& policy, bool* any_holder,
                                          bool* any_resident) REQUIRES(mu_);
  // Unknown residency class: the InvalidArgument Decide answers; needs mu_.
  Status CheckResidencyLocked(const Policy& policy) const REQUIRES(mu_);
  // Seeds the estimators with what `t` declares for the nodes in `fresh` (all: at construction)
  // and restricts them to t's nodes.
  void SeedLocked(const Topology& t, const std::set<std::string, std::less<>>& fresh) REQUIRES(mu_);

  RouterOptions options_;
  mutable Mutex mu_;
  std::shared_ptr<const Topology> topology_ GUARDED_BY(mu_);  // never null
  std::unique_ptr<Estimators> est_;  // set once in the constructor; locks its own mutex (order above)
  struct Health {
    int consecutive_failures = 0;
    bool ejected = false;
    std::chrono::system_clock::time_point last_probe{};
    std::chrono::system_clock::time_point last_answer{};  // last success, probe or refresh
    std::optional<std::chrono::system_clock::time_point> earliest_due;
    double outstanding_work_ms = 0;
    std::chrono::system_clock::time_point last_explored{};
  };
  // The exploration copy for a decision (see RouterOptions::explore_after), its token taken; needs mu_.
  std::optional<Hedge> ExploreLocked(const Request& request, const Decision& d) REQUIRES(mu_);
  std::chrono::system_clock::time_point started_;  // before it, no bandwidth estimate is stale
  std::map<std::string, Health, std::less<>> health_ GUARDED_BY(mu_);
  double hedge_tokens_ GUARDED_BY(mu_) = 0;
  struct AnswerTimes {
    std::vector<double> ratios;  // ring of elapsed / predicted p95, up to kAnswerWindow
    size_t next = 0, since_scale = 0;
    double scale = 1.0;
    void Observe(double ratio, double due_share);
    bool learned() const { return ratios.size() >= 32; }
  };
  double ScaleLocked(std::string_view node) const REQUIRES(mu_);
  std::map<std::string, AnswerTimes, std::less<>> answers_ GUARDED_BY(mu_);
  AnswerTimes all_answers_
      GUARDED_BY(mu_);  // every node's: the scale of a node with too few answers of its own
};

}  // namespace continuum::router
