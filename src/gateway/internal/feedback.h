// What the gateway tells the router about its nodes: the copies in flight on each (depth,
// earliest due time, outstanding work), and what every answer says of its node and link (the
// node's report headers). Internal to the gateway.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "gateway/dispatcher.h"
#include "http/client.h"
#include "router/router.h"

namespace continuum::gateway::internal {

using TimePoint = std::chrono::system_clock::time_point;

// The router as the request path reports to it (router::Router through RouterReports; a fake in
// tests).
class NodeReports {
 public:
  virtual ~NodeReports() = default;
  virtual TimePoint Now() const = 0;
  virtual void ReportQueueDepth(std::string_view node, double depth) = 0;
  virtual void ReportOutstanding(std::string_view node, std::optional<TimePoint> due, double work_ms) = 0;
  virtual void ReportSuccess(std::string_view node) = 0;
  virtual void ReportFailure(std::string_view node) = 0;
  virtual void ObserveCompute(std::string_view node, std::string_view model, double compute_ms) = 0;
  virtual void ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool explored) = 0;
  virtual void ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms) = 0;
  virtual double EstimatedRttMs(std::string_view node) const = 0;
  virtual double EstimatedBandwidthMbps(std::string_view node) const = 0;
};

class RouterReports final : public NodeReports {
 public:
  explicit RouterReports(router::Router* router) : router_(router) {}
  TimePoint Now() const override { return router_->Now(); }
  void ReportQueueDepth(std::string_view node, double depth) override {
    router_->ReportQueueDepth(node, depth);
  }
  void ReportOutstanding(std::string_view node, std::optional<TimePoint> due, double work_ms) override {
    router_->ReportOutstanding(node, due, work_ms);
  }
  void ReportSuccess(std::string_view node) override { router_->ReportSuccess(node); }
  void ReportFailure(std::string_view node) override { router_->ReportFailure(node); }
  void ObserveCompute(std::string_view node, std::string_view model, double compute_ms) override {
    router_->ObserveCompute(node, model, compute_ms);
  }
  void ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool explored) override {
    router_->ObserveTransfer(node, bytes, duration_ms, explored);
  }
  void ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms) override {
    router_->ObserveAnswer(node, elapsed_ms, p95_ms);
  }
  double EstimatedRttMs(std::string_view node) const override { return router_->EstimatedRttMs(node); }
  double EstimatedBandwidthMbps(std::string_view node) const override {
    return router_->EstimatedBandwidthMbps(node);
  }

 private:
  router::Router* router_;
};

// A copy sent to `node`, predicted to be answered by `due` (the router's clock: send time +
// predicted p95) after `work_ms` of compute there.
struct Copy {
  std::string node;
  TimePoint due;
  double work_ms = 0;
};

// The copies sent to each node and not yet ended, across all requests. Sent and Ended (answer,
// failure or cancellation) each report the node's in-flight depth, earliest due time and
// outstanding work. Thread-safe.
class InFlight {
 public:
  explicit InFlight(NodeReports* reports) : reports_(reports) {}
  void Sent(const Copy& copy);
  void Ended(const Copy& copy);

 private:
  struct Outstanding {
    std::multiset<TimePoint> due;
    double work_ms = 0;
  };
  NodeReports* reports_;
  std::mutex mu_;
  std::map<std::string, Outstanding> outstanding_;
};

// What one answer of `node` for `model` says of the node and its link: a success; the node's
// queue depth (X-Continuum-Queue-Depth) when it reports one; and for a 2xx its compute (the
// engine run, X-Continuum-Run-Ms; else its time on the node, X-Continuum-Compute-Ms; else the
// exchange less rtt and transfer at the current estimates) and the rest of the exchange as
// transfer of `bytes` (`explored`: the fresh sample of an exploration copy).
void LearnFromAnswer(NodeReports& reports, const std::string& node, std::string_view model,
                     const http::ClientResponse& answer, uint64_t bytes, bool explored);

// The dispatch hooks that report one request's copies to the router: on_send, on_success,
// on_failure, on_cancel and, when the decision sends an exploration copy, on_loser_answer (that
// copy's answer is learned from whether or not it won; other losers' are not). `reports` and
// `inflight` must outlive the dispatch. Leaves hedge_target unset.
DispatchHooks FeedbackHooks(NodeReports* reports, InFlight* inflight, const router::Decision& decision,
                            std::string model);

}  // namespace continuum::gateway::internal
