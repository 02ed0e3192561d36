#include "gateway/internal/finish.h"

#include <algorithm>
#include <vector>

#include "api/http_status.h"
#include "common/log.h"
#include "gateway/internal/forwarding.h"

namespace continuum::gateway::internal {

std::string NoNodeServed(const Outcome& o, const std::optional<std::string>& residency, size_t planned) {
  if (o.error.code() == StatusCode::kInvalidArgument) return o.error.message();
  std::string m = o.error.code() == StatusCode::kDeadlineExceeded ? "deadline exceeded: " : "";
  m += "no node";
  if (residency) m += " of residency class '" + *residency + "'";
  m += " could serve the request: ";
  std::vector<std::string> tried;
  for (const Attempt& a : o.attempts)
    if (std::find(tried.begin(), tried.end(), a.node) == tried.end()) tried.push_back(a.node);
  m += std::to_string(tried.size()) + " of " + std::to_string(std::max(planned, tried.size())) +
       (std::max(planned, tried.size()) == 1 ? " candidate" : " candidates") + " tried";
  if (o.attempts.empty()) return m + " (the deadline passed first)";
  constexpr size_t kMaxWhy = 160;  // per attempt: enough for "connect host:port: Connection refused"
  const char* sep = ": ";
  for (const Attempt& a : o.attempts) {
    std::string why = a.status.message();
    if (why.size() > kMaxWhy) why = why.substr(0, kMaxWhy) + "...";
    m += sep + a.node + (a.step < 0 ? " (hedge)" : "") + ": " + why;
    sep = "; ";
  }
  return m;
}

http::Response Finish::operator()(Outcome o, std::chrono::steady_clock::time_point now) {
  const double elapsed_ms = std::chrono::duration<double, std::milli>(now - sent).count();
  // How long the answer took against the choice's prediction: what its hedge delay adapts to.
  if (o.served) reports->ObserveAnswer(choice, elapsed_ms, choice_p95_ms);
  if (metrics) {
    for (const Attempt& a : o.attempts) {
      // Not the node's fault: a request that cannot be written, a client that went away.
      if (a.status.ok() || a.status.code() == StatusCode::kInvalidArgument ||
          a.status.code() == StatusCode::kCancelled)
        continue;
      if (const GatewayMetrics::PerNode* n = metrics->Find(a.node)) n->FailureCounter(a.status)->Increment();
    }
    if (!o.served) {
      // A client that went away is not a failure of the nodes; its answer is never written.
      if (o.error.code() != StatusCode::kCancelled) metrics->failures->Increment();
    } else if (const GatewayMetrics::PerNode* n = metrics->Find(o.node)) {
      (o.step < 0 ? n->hedge : o.step == 0 ? n->first : n->fallback)->Increment();
      if (o.step < 0) metrics->hedge_won->Increment();
      n->duration->Observe(elapsed_ms / 1000.0);
    }
  }
  // The routing headers name the node that answered; when none did, "none".
  Tags tags;
  tags.reason = reason;
  if (o.served) {
    tags.node = o.node;
    if (const router::Node* n = topology->FindNode(o.node))
      tags.tier = std::string(router::TierName(n->tier));
    tags.step = o.step < 0 ? "hedge" : std::to_string(o.step);
  }
  if (log) {
    record.choice = o.node;
    record.fallback_step = o.step;
    record.outcome = o.served ? "ok" : o.error.code() == StatusCode::kCancelled ? "cancelled" : "failed";
    for (const Attempt& a : o.attempts)
      if (!a.status.ok()) record.failures.push_back({a.node, a.status.message()});
    if (Status st = log->Append(record); !st.ok()) LogWarning("decision log: " + st.message());
  }
  http::Response r;
  if (o.served) {
    r = ForwardedAnswer(std::move(o.response));
  } else {
    r.status = HttpStatusFor(o.error.code());
    r.body = ErrorJson(NoNodeServed(o, residency, planned));
  }
  AddTags(&r, tags);
  return r;
}

void LogRefusal(router::DecisionLog* log, std::string request_id, TimePoint time,
                const router::Request& request, const Status& refusal) {
  if (!log) return;
  router::DecisionRecord rec;
  rec.request_id = std::move(request_id);
  rec.time = time;
  rec.model = request.model;
  rec.version = request.version;
  rec.policy = request.policy;
  rec.outcome = refusal.code() == StatusCode::kUnavailable ? "no_candidate" : refusal.message();
  (void)log->Append(rec);
}

}  // namespace continuum::gateway::internal
