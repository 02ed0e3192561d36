// `retry`: per-request attempts, delay, back-off and timeout (Cloudflare's cf-aig-max-attempts,
// cf-aig-retry-delay, cf-aig-backoff, cf-aig-request-timeout, and x-continuum-* equivalents).
// The wrapped handler is tried again on a 5xx answer or a timeout; waits are timers, never sleeps.
#include <algorithm>
#include <mutex>

#include "filters/internal/builtin.h"
#include "filters/internal/util.h"

namespace continuum::filters {

namespace {

enum class Backoff { kConstant, kLinear, kExponential };

StatusOr<Backoff> ParseBackoff(std::string_view s) {
  if (s == "constant") return Backoff::kConstant;
  if (s == "linear") return Backoff::kLinear;
  if (s == "exponential") return Backoff::kExponential;
  return InvalidArgument("expected constant, linear or exponential, got '" + std::string(s.substr(0, 64)) +
                         "'");
}

struct Policy {
  int64_t attempts = 1;
  int64_t delay_ms = 0;
  Backoff backoff = Backoff::kConstant;
  int64_t timeout_ms = 0;  // 0: none

  int64_t DelayBefore(int64_t failed) const {  // failed >= 1
    switch (backoff) {
      case Backoff::kConstant: return delay_ms;
      case Backoff::kLinear: return delay_ms * failed;
      case Backoff::kExponential: return delay_ms << std::min<int64_t>(failed - 1, 20);
    }
    return delay_ms;
  }
};

// One request's attempts. `current` names the attempt whose answer counts; answers of earlier
// attempts that timed out arrive late and are dropped.
struct Attempts {
  std::mutex mu;
  Policy policy;
  int64_t current = 0;
  bool finished = false;
  std::shared_ptr<RequestContext> ctx;
  http::Request req;  // kept to send again
  http::Responder respond;
  Next next;
};

class RetryFilter final : public Filter {
 public:
  RetryFilter(Policy defaults, int64_t max_attempts, int64_t max_timeout_ms, FilterEnv& env)
      : defaults_(defaults),
        max_attempts_(max_attempts),
        max_timeout_ms_(max_timeout_ms),
        timers_(env.timers) {}

  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    Policy p = defaults_;
    auto attempts =
        IntHeader(req, {"cf-aig-max-attempts", "x-continuum-max-attempts"}, 1, max_attempts_, "attempts");
    if (!attempts.ok()) return respond(ErrorFor(attempts.status()));
    auto delay = IntHeader(req, {"cf-aig-retry-delay", "x-continuum-retry-delay"}, 0, 60000, "milliseconds");
    if (!delay.ok()) return respond(ErrorFor(delay.status()));
    auto timeout = IntHeader(req, {"cf-aig-request-timeout", "x-continuum-request-timeout"}, 1,
                             max_timeout_ms_, "milliseconds");
    if (!timeout.ok()) return respond(ErrorFor(timeout.status()));
    if (FoundHeader b = FirstHeader(req, {"cf-aig-backoff", "x-continuum-backoff"}); b.value) {
      auto parsed = ParseBackoff(*b.value);
      if (!parsed.ok())
        return respond(ErrorFor(parsed.status().WithContext("header '" + std::string(b.name) + "'")));
      p.backoff = *parsed;
    }
    p.attempts = attempts->value_or(p.attempts);
    p.delay_ms = delay->value_or(p.delay_ms);
    p.timeout_ms = timeout->value_or(p.timeout_ms);
    if (p.attempts == 1 && p.timeout_ms == 0) return next(std::move(ctx), std::move(req), std::move(respond));
    auto a = std::make_shared<Attempts>();
    a->policy = p;
    a->ctx = std::move(ctx);
    a->req = std::move(req);
    a->respond = std::move(respond);
    a->next = next;
    Start(a, 1);
  }

 private:
  void Start(const std::shared_ptr<Attempts>& a, int64_t n) {
    http::Request copy;
    {
      std::lock_guard lock(a->mu);
      if (a->finished) return;
      a->current = n;
      copy = a->req;
    }
    if (a->policy.timeout_ms > 0) {
      timers_->RunAfter(std::chrono::milliseconds(a->policy.timeout_ms), [this, a, n] {
        Done(a, n,
             ErrorFor(DeadlineExceeded("no answer within " + std::to_string(a->policy.timeout_ms) +
                                       " ms (attempt " + std::to_string(n) + " of " +
                                       std::to_string(a->policy.attempts) + ")")));
      });
    }
    a->next(a->ctx, std::move(copy), [this, a, n](http::Response r) { Done(a, n, std::move(r)); });
  }

  void Done(const std::shared_ptr<Attempts>& a, int64_t n, http::Response r) {
    http::Responder respond;
    {
      std::lock_guard lock(a->mu);
      if (a->finished || a->current != n) return;
      const bool failed = r.status >= 500;
      if (failed && n < a->policy.attempts) {
        a->current = 0;  // between attempts no answer counts
        const int64_t delay = a->policy.DelayBefore(n);
        timers_->RunAfter(std::chrono::milliseconds(delay), [this, a, n] { Start(a, n + 1); });
        return;
      }
      a->finished = true;
      respond = std::move(a->respond);
    }
    SetHeader(r, "x-continuum-attempts", std::to_string(n));
    respond(std::move(r));
  }

  Policy defaults_;
  int64_t max_attempts_, max_timeout_ms_;
  Timers* timers_;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeRetryFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o,
                   rd.ParseObject(settings, {"max_attempts", "retry_delay_ms", "backoff",
                                             "request_timeout_ms", "max_attempts_limit", "max_timeout_ms"}));
  Policy p;
  int64_t limit = 5, max_timeout = 600000;
  simdjson::dom::element e;
  if (!o["max_attempts_limit"].get(e)) {
    ASSIGN_OR_RETURN(limit, rd.Int(e, "max_attempts_limit", 1, 100));
  }
  if (!o["max_timeout_ms"].get(e)) {
    ASSIGN_OR_RETURN(max_timeout, rd.Int(e, "max_timeout_ms", 1, 3'600'000));
  }
  if (!o["max_attempts"].get(e)) {
    ASSIGN_OR_RETURN(p.attempts, rd.Int(e, "max_attempts", 1, limit));
  }
  if (!o["retry_delay_ms"].get(e)) {
    ASSIGN_OR_RETURN(p.delay_ms, rd.Int(e, "retry_delay_ms", 0, 60000));
  }
  if (!o["request_timeout_ms"].get(e)) {
    ASSIGN_OR_RETURN(p.timeout_ms, rd.Int(e, "request_timeout_ms", 1, max_timeout));
  }
  if (!o["backoff"].get(e)) {
    ASSIGN_OR_RETURN(std::string b, rd.String(e, "backoff", true));
    auto parsed = ParseBackoff(b);
    if (!parsed.ok()) return rd.Err("backoff", parsed.status().message());
    p.backoff = *parsed;
  }
  return std::unique_ptr<Filter>(new RetryFilter(p, limit, max_timeout, env));
}

}  // namespace continuum::filters
