// The AI-gateway filters: a chain of small request/response filters (tenants and API keys, rate
// limits, a response cache with coalescing, retries, usage metering, request logs) that wraps any
// http::Handler, so the same chain runs in front of `continuum serve` and `continuum gateway`.
// Filters are registered by name and picked, ordered and configured by a JSON file (see
// src/filters/README.md for the format, the headers and the metering formula).
//
// Thread-safety: a FilterChain is built once, then its wrapped handler and admin handler may be
// called from any thread. Filters never block the calling thread on other work: waits (retry
// delays, coalescing, timeouts) are timers on the chain's own timer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/v2_codec.h"
#include "common/status.h"
#include "http/server.h"

namespace continuum::telemetry {
class Registry;
}

namespace continuum::filters {

// Wall-clock time, injected so that windows, TTLs and days can be tested without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  static const Clock* System();
};

// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::time_point{});
  std::chrono::system_clock::time_point Now() const override;
  void Advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_;
};

// One thread running callbacks after a delay (retry back-off, request timeouts, coalescing
// bounds). Callbacks must be short; pending ones are dropped by the destructor.
class Timers {
 public:
  Timers();
  ~Timers();
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;
  void RunAfter(std::chrono::milliseconds delay, std::function<void()> fn);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// What the filters learn about one request on its way in and out. Shared by every filter of the
// chain for that request; the fields set on the way in are written before the next filter runs,
// so only the compute charge (which retries may add from several threads) takes a lock.
struct RequestContext {
  std::string request_id;
  std::chrono::steady_clock::time_point start;
  // From the path, by the node's own route grammar (api/route.h): "v2_infer", "v2_model"
  // (metadata, ready, config, stats of one model), "task" (/ai/run/{model}), "task_model"
  // (/ai/models/{model}, /v1/models/{model}), "task_model_search" (/ai/models/search, a listing),
  // "openai", "usage" or "other".
  std::string route;
  std::string model;    // the model the node acts on (also a repository load); empty when none
  std::string version;  // empty: the latest
  // The path is a route that needs no key: auth's `public_routes` (without auth in the chain, its
  // default ones, the health probes). Rate limits skip it unless a rule opts in.
  bool public_route = false;
  // Set by `auth`.
  std::string tenant;  // empty when no auth filter ran
  std::string key_id;
  double daily_free_units = -1;  // the tenant's allowance; < 0: the metering filter's default
  double budget_units = -1;      // the tenant's budget; < 0: the metering filter's default
  // Set by `cache`: "HIT", "MISS" or "BYPASS" (empty when no cache filter ran).
  std::string cache_status;
  bool log_payload = false;

  // Charged by the innermost stage each time the wrapped handler really answers; `reported`:
  // that answer carried the node's report (X-Continuum-Compute-Ms / -Engine-Ms), i.e. the node
  // found the model and ran the request.
  void AddCompute(double units, double compute_ms, std::string tier, std::string node, bool reported);
  struct Charge {
    double units = 0;
    double compute_ms = 0;
    std::string tier, node;
    bool reported = false;  // some answer of the wrapped handler carried the node's report
  };
  Charge charge() const;

 private:
  mutable std::mutex mu_;
  Charge charge_;
};

using Next = std::function<void(std::shared_ptr<RequestContext>, http::Request&&, http::Responder)>;

// One filter. Handle either answers through `respond` (an early answer: 401, 429, a cache hit)
// or calls `next` (possibly later, possibly more than once: retries), usually with a responder of
// its own that sees and may change the answer before passing it on.
class Filter {
 public:
  virtual ~Filter() = default;
  virtual void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
                      const Next& next) = 0;
  // The handler of the admin listener when this filter owns it, or nullptr. It serves its own
  // admin routes and passes the listener's other requests (GET /metrics) to `others` (may be
  // null), after the same admin checks: the filter guards the whole listener.
  virtual http::Handler AdminHandler(http::Handler others) {
    (void)others;
    return nullptr;
  }
  // Where the admin token is kept when a file holds it (to tell the operator), else empty.
  virtual std::string AdminTokenFile() const { return {}; }
};

// The version that answers a request for a model's latest version right now ("" when the model
// is unknown or the answer is not known in advance). Called from any thread; must be cheap.
using VersionResolver = std::function<std::string(std::string_view model)>;

// What a filter factory may use. Pointers outlive the chain.
struct FilterEnv {
  const Clock* clock = nullptr;
  telemetry::Registry* metrics = nullptr;  // may be null: no metrics
  Timers* timers = nullptr;
  std::string config_dir;           // relative paths in settings are taken from here
  v2::CodecLimits codec_limits;     // the node's: v2 bodies are decoded with the same limits
  VersionResolver resolve_version;  // may be null (see ChainOptions)
};

// `settings_json` is the filter's "settings" object ("{}" when absent). Errors name the field.
using FilterFactory =
    std::function<StatusOr<std::unique_ptr<Filter>>(std::string_view settings_json, FilterEnv&)>;

class FilterRegistry {
 public:
  // auth, ratelimit, cache, retry, metering, reqlog.
  static const FilterRegistry& BuiltIn();
  void Register(std::string name, FilterFactory factory);
  const FilterFactory* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, FilterFactory, std::less<>> factories_;
};

struct ChainOptions {
  const Clock* clock = nullptr;            // null: the system clock
  telemetry::Registry* metrics = nullptr;  // null: no metrics
  // Who answers when the wrapped handler's answers carry no X-Continuum-Tier / -Node (a node
  // serving itself): used to pick the compute-unit factor.
  std::string local_tier = "local";
  std::string local_node = "local";
  // The limits the node decodes v2 bodies with (serve: --max-tensor-elements, --max-json-depth);
  // filters that decode bodies (the cache key) use the same, never more generous ones.
  v2::CodecLimits codec_limits;
  // Given by a node that serves in-process (serve): which version answers "latest" now, so the
  // cache never answers with an older version's entry. Null (gateway): versions are learned
  // from the answers (src/filters/README.md, cache keys).
  VersionResolver resolve_version;
};

// Longest model name (and version) taken from a path or a body, unless the chain config's
// `max_model_name_bytes` says otherwise; longer ones are refused with 400.
inline constexpr size_t kDefaultMaxModelNameBytes = 256;

class FilterChain {
 public:
  ~FilterChain();
  // Parses a chain config (schema_version 1; unknown fields are refused, naming the field).
  static StatusOr<std::unique_ptr<FilterChain>> FromJson(
      std::string_view json, const ChainOptions& options,
      const FilterRegistry& registry = FilterRegistry::BuiltIn(), std::string config_dir = ".");
  static StatusOr<std::unique_ptr<FilterChain>> FromFile(const std::string& path,
                                                         const ChainOptions& options);

  // The chain in front of `inner`. The returned handler may be called from any thread; it keeps
  // a pointer to this chain, which must outlive it.
  http::Handler Wrap(http::Handler inner);
  // The admin listener's handler (tenants and keys, and `others` for the listener's other routes,
  // all behind the admin token and Host / Origin / content-type checks), or nullptr when no
  // filter has admin routes.
  http::Handler AdminHandler(http::Handler others = nullptr);
  // The file holding the admin token (generated when the config gives none), or empty.
  std::string admin_token_file() const;
  std::vector<std::string> filter_names() const;

  // Compute units of one answer: compute_ms x the factor of its node, else of its tier, else the
  // default factor (README: the metering formula).
  double Units(double compute_ms, std::string_view tier, std::string_view node) const;

  struct Impl;

 private:
  explicit FilterChain(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace continuum::filters

namespace continuum::filters {

// A chain loaded from a config file in front of a handler, plus the admin listener (its own
// http::Server) when a filter has admin routes. The admin listener also serves GET /metrics.
// Destroy it after the public server has stopped; it stops the admin listener first.
struct Frontend {
  std::unique_ptr<telemetry::Registry> own_metrics;  // when the caller passed none
  std::unique_ptr<FilterChain> chain;
  std::unique_ptr<http::Server> admin;  // null: no filter has admin routes
  std::string admin_token_file;         // where the admin token is, when a file holds it
  http::Handler handler;                // the public handler: the chain around `inner`
  ~Frontend();
};

StatusOr<std::unique_ptr<Frontend>> StartFrontend(const std::string& config_path, http::Handler inner,
                                                  ChainOptions options,
                                                  const http::ServerOptions& admin_options);

}  // namespace continuum::filters
