#include "gateway/internal/feedback.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "common/node_report.h"

namespace continuum::gateway::internal {

namespace {

// A finite, non-negative number in a node's response header, if present.
std::optional<double> NumericHeader(const http::ClientResponse& resp, std::string_view name) {
  const std::string* v = resp.Header(name);
  if (!v) return std::nullopt;
  return ParseNodeReportValue(*v);
}

// One request's copies in flight. The hooks run on the upstream client's single I/O thread, one
// exchange's hooks never concurrently.
struct Exchange {
  NodeReports* reports;
  InFlight* inflight;
  std::string model;
  std::string explored;  // the exploration copy's node, or empty
  // Each candidate's predicted p95 (for its due time) and compute (the work it adds to the node).
  std::map<std::string, std::pair<double, double>> predicted;
  std::vector<Copy> sends;

  void Send(const std::string& node) {
    const auto it = predicted.find(node);
    const double p95 = it == predicted.end() ? 0.0 : std::min(it->second.first, 1e9);
    const double work = it == predicted.end() ? 0.0 : std::min(it->second.second, 1e9);
    const TimePoint due = reports->Now() + std::chrono::microseconds(static_cast<int64_t>(p95 * 1000));
    sends.push_back(Copy{node, due, work});
    inflight->Sent(sends.back());
  }
  void End(const std::string& node) {
    auto it = std::find_if(sends.begin(), sends.end(), [&](const Copy& s) { return s.node == node; });
    if (it == sends.end()) return;
    const Copy copy = *it;
    sends.erase(it);
    inflight->Ended(copy);
  }
  void Learn(const std::string& node, const http::ClientResponse& answer, uint64_t bytes) {
    LearnFromAnswer(*reports, node, model, answer, bytes, node == explored);
  }
};

}  // namespace

void InFlight::Sent(const Copy& copy) {
  size_t depth;
  TimePoint earliest;
  double work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Outstanding& o = outstanding_[copy.node];
    o.due.insert(copy.due);
    o.work_ms += copy.work_ms;
    depth = o.due.size();
    earliest = *o.due.begin();
    work = o.work_ms;
  }
  reports_->ReportQueueDepth(copy.node, static_cast<double>(depth));
  reports_->ReportOutstanding(copy.node, earliest, work);
}

void InFlight::Ended(const Copy& copy) {
  size_t depth = 0;
  std::optional<TimePoint> earliest;
  double work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Outstanding& o = outstanding_[copy.node];
    if (auto it = o.due.find(copy.due); it != o.due.end()) o.due.erase(it);
    o.work_ms = o.due.empty() ? 0.0 : std::max(0.0, o.work_ms - copy.work_ms);  // no drift when idle
    depth = o.due.size();
    if (!o.due.empty()) earliest = *o.due.begin();
    work = o.work_ms;
  }
  reports_->ReportQueueDepth(copy.node, static_cast<double>(depth));
  reports_->ReportOutstanding(copy.node, earliest, work);
}

void LearnFromAnswer(NodeReports& reports, const std::string& node, std::string_view model,
                     const http::ClientResponse& resp, uint64_t bytes, bool explored) {
  reports.ReportSuccess(node);
  // The node's own view of its queue, when it reports one, replaces the gateway's in-flight count.
  if (auto depth = NumericHeader(resp, kQueueDepthHeader)) reports.ReportQueueDepth(node, *depth);
  if (resp.status < 200 || resp.status >= 300) return;  // a refusal says little about speed
  // Compute time: the engine run the node reports (its queue comes from the depth above), else
  // its time on the node (queue wait + run), else what remains of the exchange after rtt and
  // transfer at the current estimates. Transfer is what remains after the time on the node (the
  // estimator takes the rtt off).
  const double ms = resp.duration_ms;
  double compute, on_node;
  if (auto run = NumericHeader(resp, kRunMsHeader)) {
    compute = std::min(*run, ms);
    auto reported = NumericHeader(resp, kComputeMsHeader);
    on_node = reported ? std::clamp(*reported, compute, ms) : compute;
  } else if (auto reported = NumericHeader(resp, kComputeMsHeader)) {
    compute = on_node = std::min(*reported, ms);
  } else {
    const double bw = reports.EstimatedBandwidthMbps(node);
    const double transfer = bw > 0 ? static_cast<double>(bytes) * 8.0 / 1e6 / bw * 1000.0 : 0.0;
    compute = on_node = std::max(0.0, ms - reports.EstimatedRttMs(node) - transfer);
  }
  reports.ObserveCompute(node, model, compute);
  reports.ObserveTransfer(node, bytes, std::max(0.0, ms - on_node), explored);
}

DispatchHooks FeedbackHooks(NodeReports* reports, InFlight* inflight, const router::Decision& decision,
                            std::string model) {
  auto x = std::make_shared<Exchange>();
  x->reports = reports;
  x->inflight = inflight;
  x->model = std::move(model);
  // What an answer says of its node and link: from the winner, and from an exploration copy that
  // lost (its answer is the one fresh sample of a stale link, whether or not it won).
  if (decision.hedge && decision.hedge->explore) x->explored = decision.hedge->node;
  for (const auto& c : decision.candidates) x->predicted[c.node] = {c.p95_ms, c.compute_ms};
  DispatchHooks hooks;
  Exchange* e = x.get();  // the hooks hold `x` in `state`: plain pointers in the callbacks
  hooks.on_send = [e](const std::string& node) { e->Send(node); };
  hooks.on_cancel = [e](const std::string& node) { e->End(node); };
  hooks.on_failure = [e](const std::string& node) {
    e->End(node);
    e->reports->ReportFailure(node);
  };
  hooks.on_success = [e](const std::string& node, const http::ClientResponse& resp, uint64_t bytes) {
    e->End(node);
    e->Learn(node, resp, bytes);
  };
  // A hedge's loser is a straggler's answer (the stall is known: the overdue rule saw it) or a
  // hedge's (the node was not needed): not learned from, so the compute window is not tilted
  // towards stalls by every rescue. An exploration copy's answer is its link's one fresh sample.
  if (!x->explored.empty()) {
    hooks.on_loser_answer = [e](const std::string& node, const http::ClientResponse& resp, uint64_t bytes) {
      if (node == e->explored) e->Learn(node, resp, bytes);
    };
  }
  hooks.state = std::move(x);
  return hooks;
}

}  // namespace continuum::gateway::internal
