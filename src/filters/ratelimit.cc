// `ratelimit`: requests and compute units per window, per API key, tenant or tenant+model, with a
// fixed or a sliding window (the two-window estimate Cloudflare uses: the previous window's
// count weighted by how much of it still overlaps the sliding window, plus the current one).
// Answers carry RateLimit-Limit / -Remaining / -Reset of the tightest rule; refusals are 429 with
// Retry-After. Routes that need no key (RequestContext::public_route) are not counted unless a
// rule says `count_public_routes`.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "common/json_writer.h"
#include "filters/internal/builtin.h"
#include "filters/internal/util.h"
#include "telemetry/metrics.h"

namespace continuum::filters {

namespace {

enum class Scope { kKey, kTenant, kModel };

struct Rule {
  Scope scope = Scope::kKey;
  std::string scope_name;
  int64_t window_ms = 60000;
  double requests = 0;               // 0: no request limit
  double units = 0;                  // 0: no compute-unit limit
  std::vector<std::string> models;   // globs the rule applies to; empty: all requests
  bool count_public_routes = false;  // also count the routes that need no key (health probes)
};

struct Counter {
  int64_t index = 0;  // which window `cur` counts
  double cur_requests = 0, prev_requests = 0, cur_units = 0, prev_units = 0;
};

class RateLimitFilter final : public Filter {
 public:
  RateLimitFilter(std::vector<Rule> rules, bool sliding, size_t max_buckets, FilterEnv& env)
      : rules_(std::move(rules)), sliding_(sliding), max_buckets_(max_buckets), clock_(env.clock) {
    min_window_ms_ = rules_.empty() ? 1 : rules_.front().window_ms;
    for (const Rule& r : rules_) min_window_ms_ = std::min(min_window_ms_, r.window_ms);
    if (env.metrics) {
      refused_ = &env.metrics->AddCounter("continuum_ratelimit_refused_total",
                                          "Requests refused by a rate limit, by the rule's scope", {"scope"});
    }
  }

  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    const int64_t now = NowMs();
    struct Verdict {
      double limit = 0, remaining = 1e300;
      int64_t reset_ms = 0;
      bool refused = false;
      int64_t retry_ms = 0;
      std::string why;
    } v;
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mu_);
      // Two passes: nothing is counted unless every rule admits the request.
      for (size_t i = 0; i < rules_.size(); ++i) {
        const Rule& r = rules_[i];
        ids.push_back(Applies(r, *ctx) ? Bucket(i, Identity(r, *ctx, req), now) : std::string());
        if (ids.back().empty()) continue;
        Counter& c = Roll(i, ids.back(), r, now);
        const double weight = PrevWeight(r, now);
        const int64_t reset = (c.index + 1) * r.window_ms - now;
        auto consider = [&](double limit, double used, double prev, double cur, double cost,
                            const char* what) {
          const double remaining = limit - used - cost;
          if (remaining < v.remaining) {
            v.limit = limit;
            v.remaining = remaining;
            v.reset_ms = reset;
          }
          if (remaining < 0 && !v.refused) {
            v.refused = true;
            v.retry_ms = RetryMs(r, now, c.index, prev, cur, limit - cost);
            v.why = std::string("rate limit exceeded: ") + what + " per " +
                    FormatDouble(r.window_ms / 1000.0) + " s for this " +
                    (r.scope == Scope::kModel ? "model" : r.scope_name) + " (limit " + FormatDouble(limit) +
                    ")";
            if (refused_) refused_->WithLabels({r.scope_name}).Increment();
          }
        };
        if (r.requests > 0) {
          consider(r.requests, c.prev_requests * weight + c.cur_requests, c.prev_requests, c.cur_requests, 1,
                   "requests");
        }
        // A compute-unit budget admits requests while any is left; the answer's charge may overshoot it.
        if (r.units > 0) {
          consider(r.units, c.prev_units * weight + c.cur_units, c.prev_units, c.cur_units, 1e-9,
                   "compute units");
        }
      }
      if (!v.refused) {
        for (size_t i = 0; i < rules_.size(); ++i)
          if (!ids[i].empty()) counters_[{i, ids[i]}].cur_requests += 1;
      }
    }
    // The numbers only: the lambda is copied into the answer's callback.
    auto add_headers = [limit = v.limit, remaining = v.remaining, reset_ms = v.reset_ms](http::Response& r) {
      if (limit <= 0) return;
      SetHeader(r, "RateLimit-Limit", FormatDouble(limit));
      SetHeader(r, "RateLimit-Remaining", FormatDouble(std::max(0.0, std::floor(remaining))));
      SetHeader(r, "RateLimit-Reset", std::to_string(std::max<int64_t>(1, (reset_ms + 999) / 1000)));
    };
    if (v.refused) {
      http::Response r = ErrorFor(ResourceExhausted(v.why));
      add_headers(r);
      SetHeader(r, "Retry-After", std::to_string(std::max<int64_t>(1, (v.retry_ms + 999) / 1000)));
      return respond(std::move(r));
    }
    next(ctx, std::move(req),
         [this, ctx, ids = std::move(ids), add_headers, respond = std::move(respond)](http::Response r) {
           const double units = ctx->charge().units;
           if (units > 0) {
             std::lock_guard lock(mu_);
             const int64_t now = NowMs();
             for (size_t i = 0; i < rules_.size(); ++i)
               if (!ids[i].empty() && rules_[i].units > 0) Roll(i, ids[i], rules_[i], now).cur_units += units;
           }
           add_headers(r);
           respond(std::move(r));
         });
  }

 private:
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch()).count();
  }

  static bool Applies(const Rule& r, const RequestContext& ctx) {
    // A probe of a route that needs no key shares its address's bucket with everything else
    // from there (a load balancer's, a kubelet's): limiting it would fail the probe.
    if (ctx.public_route && !r.count_public_routes) return false;
    if (r.models.empty()) return true;
    return !ctx.model.empty() && AnyGlobMatches(r.models, ctx.model);
  }

  // Without auth in front, keys and tenants fall back to the client address.
  static std::string Identity(const Rule& r, const RequestContext& ctx, const http::Request& req) {
    std::string who = r.scope == Scope::kKey ? ctx.key_id : ctx.tenant;
    if (who.empty()) who = "addr:" + req.remote.substr(0, req.remote.rfind(':'));
    if (r.scope == Scope::kModel) who += '\0' + ctx.model;
    return who;
  }

  // The bucket an identity counts in: its own, or, once `max_buckets` are held and none is idle
  // enough to drop, the rule's one overflow bucket (which every identity without a bucket
  // shares, so a flood of new keys, addresses or model names cannot grow the table).
  std::string Bucket(size_t rule, std::string id, int64_t now) {
    if (counters_.size() < max_buckets_ || counters_.contains({rule, id})) return id;
    // Buckets only become droppable when a window ends: sweep once per shortest window at most.
    if (const int64_t w = now / min_window_ms_; w != full_sweep_window_) {
      full_sweep_window_ = w;
      Sweep(now);
    }
    if (counters_.size() < max_buckets_) return id;
    return std::string(kOverflowBucket);
  }

  Counter& Roll(size_t rule, const std::string& id, const Rule& r, int64_t now) {
    MaybeSweep(now);
    Counter& c = counters_[{rule, id}];
    const int64_t index = now / r.window_ms;
    if (index == c.index + 1) {
      c.prev_requests = c.cur_requests;
      c.prev_units = c.cur_units;
    } else if (index != c.index) {
      c.prev_requests = c.prev_units = 0;
    }
    if (index != c.index) {
      c.cur_requests = c.cur_units = 0;
      c.index = index;
    }
    return c;
  }

  // Counters idle for two windows hold nothing; drop them now and then so memory follows the
  // active identities, not every identity ever seen.
  void MaybeSweep(int64_t now) {
    if (++since_sweep_ < 4096) return;
    Sweep(now);
  }

  void Sweep(int64_t now) {
    since_sweep_ = 0;
    std::erase_if(counters_, [&](const auto& kv) {
      return now / rules_[kv.first.first].window_ms > kv.second.index + 1;
    });
  }

  double PrevWeight(const Rule& r, int64_t now) const {
    if (!sliding_) return 0;
    return 1.0 - static_cast<double>(now % r.window_ms) / static_cast<double>(r.window_ms);
  }

  // How long until `prev * weight + cur <= allowed` holds again.
  int64_t RetryMs(const Rule& r, int64_t now, int64_t index, double prev, double cur, double allowed) const {
    const double w = static_cast<double>(r.window_ms);
    const double to_end = static_cast<double>((index + 1) * r.window_ms - now);
    if (!sliding_) return static_cast<int64_t>(to_end);
    const double f0 = 1.0 - to_end / w;
    // Within this window the previous one's share fades.
    if (prev > 0) {
      const double t = w * ((prev * (1 - f0) + cur - allowed) / prev);
      if (t >= 0 && t <= to_end) return static_cast<int64_t>(std::ceil(t));
    }
    // In the next window this window's count fades instead.
    if (cur <= allowed) return static_cast<int64_t>(to_end);
    return static_cast<int64_t>(std::ceil(to_end + w * (1 - allowed / cur)));
  }

  // Not an identity any request can have: identities are a key id, a tenant or "addr:...".
  static constexpr std::string_view kOverflowBucket{"\0__other__", 10};

  std::vector<Rule> rules_;
  bool sliding_;
  size_t max_buckets_;
  int64_t min_window_ms_ = 1;
  int64_t full_sweep_window_ = -1;
  const Clock* clock_;
  telemetry::Family<telemetry::Counter>* refused_ = nullptr;
  std::mutex mu_;
  std::map<std::pair<size_t, std::string>, Counter> counters_;
  size_t since_sweep_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeRateLimitFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o, rd.ParseObject(settings, {"window", "rules", "max_buckets"}));
  bool sliding = true;
  int64_t max_buckets = 100000;
  simdjson::dom::element e;
  if (!o["window"].get(e)) {
    ASSIGN_OR_RETURN(std::string w, rd.String(e, "window", true));
    if (w != "fixed" && w != "sliding") return rd.Err("window", "must be fixed or sliding, got '" + w + "'");
    sliding = w == "sliding";
  }
  if (!o["max_buckets"].get(e)) {
    ASSIGN_OR_RETURN(max_buckets, rd.Int(e, "max_buckets", 1, 100'000'000));
  }
  if (o["rules"].get(e)) return rd.Err("rules", "missing (an array of rules)");
  ASSIGN_OR_RETURN(auto list, rd.Array(e, "rules"));
  std::vector<Rule> rules;
  for (auto item : list) {
    const std::string where = "rules[" + std::to_string(rules.size()) + "]";
    ASSIGN_OR_RETURN(auto r, rd.Object(item, where));
    RETURN_IF_ERROR(rd.CheckKeys(
        r, where, {"scope", "window_seconds", "requests", "units", "models", "count_public_routes"}));
    Rule rule;
    simdjson::dom::element x;
    if (r["scope"].get(x)) return rd.Err(where + ".scope", "missing (key, tenant or model)");
    ASSIGN_OR_RETURN(rule.scope_name, rd.String(x, where + ".scope", true));
    if (rule.scope_name == "key") {
      rule.scope = Scope::kKey;
    } else if (rule.scope_name == "tenant") {
      rule.scope = Scope::kTenant;
    } else if (rule.scope_name == "model") {
      rule.scope = Scope::kModel;
    } else {
      return rd.Err(where + ".scope", "must be key, tenant or model, got '" + rule.scope_name + "'");
    }
    if (r["window_seconds"].get(x)) return rd.Err(where + ".window_seconds", "missing");
    ASSIGN_OR_RETURN(double secs, rd.Double(x, where + ".window_seconds", 0.001, 86400 * 31));
    rule.window_ms = std::max<int64_t>(1, static_cast<int64_t>(secs * 1000));
    if (!r["requests"].get(x)) {
      ASSIGN_OR_RETURN(rule.requests, rd.Double(x, where + ".requests", 1, 1e12));
    }
    if (!r["units"].get(x)) {
      ASSIGN_OR_RETURN(rule.units, rd.Double(x, where + ".units", 1e-6, 1e15));
    }
    if (!r["models"].get(x)) {
      ASSIGN_OR_RETURN(rule.models, rd.StringList(x, where + ".models"));
    }
    if (!r["count_public_routes"].get(x)) {
      ASSIGN_OR_RETURN(rule.count_public_routes, rd.Bool(x, where + ".count_public_routes"));
    }
    if (rule.requests <= 0 && rule.units <= 0) return rd.Err(where, "needs requests, units or both");
    rules.push_back(std::move(rule));
  }
  return std::unique_ptr<Filter>(
      new RateLimitFilter(std::move(rules), sliding, static_cast<size_t>(max_buckets), env));
}

}  // namespace continuum::filters
