// The filter chain: config parsing, the registry, request classification, the compute charge
// taken from each real answer of the wrapped handler, and the shared timer thread.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "api/route.h"
#include "common/node_report.h"
#include "filters/filters.h"
#include "filters/internal/builtin.h"
#include "filters/internal/util.h"

namespace continuum::filters {

// --- clocks and timers -----------------------------------------------------------------------

namespace {
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return std::chrono::system_clock::now(); }
};
}  // namespace

const Clock* Clock::System() {
  static const SystemClock clock;
  return &clock;
}

ManualClock::ManualClock(std::chrono::system_clock::time_point start)
    : ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count()) {}

std::chrono::system_clock::time_point ManualClock::Now() const {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns_.load())));
}

struct Timers::Impl {
  std::mutex mu;
  std::condition_variable cv;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> due;
  bool stop = false;
  std::thread thread;

  void Loop() {
    std::unique_lock lock(mu);
    while (!stop) {
      if (due.empty()) {
        cv.wait(lock);
        continue;
      }
      auto first = due.begin();
      if (first->first > std::chrono::steady_clock::now()) {
        cv.wait_until(lock, first->first);
        continue;
      }
      std::function<void()> fn = std::move(first->second);
      due.erase(first);
      lock.unlock();
      fn();
      lock.lock();
    }
  }
};

Timers::Timers() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([i = impl_.get()] { i->Loop(); });
}

Timers::~Timers() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
  // Pending callbacks are dropped with `due`: a responder they held answers 500 (see server.h).
}

void Timers::RunAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->due.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
  }
  impl_->cv.notify_all();
}

// --- request context --------------------------------------------------------------------------

void RequestContext::AddCompute(double units, double compute_ms, std::string tier, std::string node,
                                bool reported) {
  std::lock_guard lock(mu_);
  charge_.units += units;
  charge_.compute_ms += compute_ms;
  charge_.tier = std::move(tier);
  charge_.node = std::move(node);
  charge_.reported = charge_.reported || reported;
}

RequestContext::Charge RequestContext::charge() const {
  std::lock_guard lock(mu_);
  return charge_;
}

namespace {
Status CheckNameLength(std::string_view field, std::string_view what, size_t size, size_t max) {
  if (size <= max) return Status::Ok();
  return InvalidArgument(std::string(field) + ": the " + std::string(what) + " is " + std::to_string(size) +
                         " bytes, longer than the limit of " + std::to_string(max) +
                         " (max_model_name_bytes)");
}
}  // namespace

Status ClassifyRequest(const http::Request& req, RequestContext* ctx, size_t max_name_bytes) {
  // The node parses the same path with the same grammar: the model named here is the model it runs.
  Route route = ParseRoute(req.path);
  ctx->route = std::string(FilterRouteName(route.kind));
  // Names are checked before they are kept: nothing downstream (keys, usage rows, labels, logs)
  // ever holds a longer one.
  RETURN_IF_ERROR(CheckNameLength("path", "model name", route.model.size(), max_name_bytes));
  RETURN_IF_ERROR(CheckNameLength("path", "model version", route.version.size(), max_name_bytes));
  ctx->model = std::move(route.model);
  ctx->version = std::move(route.version);
  if (route.kind == RouteKind::kOpenAiEmbeddings) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view model;
    if (!parser.parse(req.body.data(), req.body.size()).get(root) && !root["model"].get_string().get(model)) {
      RETURN_IF_ERROR(CheckNameLength("model", "model name", model.size(), max_name_bytes));
      ctx->model = std::string(model);
    }
  }
  return Status::Ok();
}

// --- registry ---------------------------------------------------------------------------------

const FilterRegistry& FilterRegistry::BuiltIn() {
  static const FilterRegistry* registry = [] {
    auto* r = new FilterRegistry;
    r->Register("auth", MakeAuthFilter);
    r->Register("ratelimit", MakeRateLimitFilter);
    r->Register("cache", MakeCacheFilter);
    r->Register("retry", MakeRetryFilter);
    r->Register("metering", MakeMeteringFilter);
    r->Register("reqlog", MakeRequestLogFilter);
    return r;
  }();
  return *registry;
}

void FilterRegistry::Register(std::string name, FilterFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

const FilterFactory* FilterRegistry::Find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> FilterRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

// --- chain ------------------------------------------------------------------------------------

struct FilterChain::Impl {
  ChainOptions options;
  size_t max_model_name_bytes = kDefaultMaxModelNameBytes;
  double default_factor = 1.0;
  std::map<std::string, double, std::less<>> tier_factor, node_factor;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Filter>> filters;
  // Declared after the filters so that it is destroyed first: its thread runs their callbacks.
  std::unique_ptr<Timers> timers;
};

FilterChain::FilterChain(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FilterChain::~FilterChain() = default;

namespace {
Status ParseFactors(const config::Reader& rd, simdjson::dom::object o, std::string_view where,
                    std::map<std::string, double, std::less<>>* out) {
  for (auto [k, v] : o) {
    ASSIGN_OR_RETURN(double f, rd.Double(v, std::string(where) + "." + std::string(k), 0, 1e9));
    (*out)[std::string(k)] = f;
  }
  return Status::Ok();
}

// Filters that act per tenant or API key must see requests after `auth` has named them, when the
// chain has auth (without it they work per client address, or for everyone alike). The order is
// checked at load: a wrong one would fail open, e.g. a cache before auth answering a request with
// no key from a tenant's cached entry.
struct OrderRule {
  std::string_view filter, after, why;
};
constexpr OrderRule kOrderRules[] = {
    {"cache", "auth", "a cache in front of auth would answer requests without a key from a tenant's entries"},
    {"metering", "auth", "usage is charged to the tenant auth names, and budgets are checked per tenant"},
    {"ratelimit", "auth",
     "key and tenant limits need the key auth checked (before it, every rule would count client "
     "addresses, and requests without a key would use up the limits)"},
};
}  // namespace

StatusOr<std::unique_ptr<FilterChain>> FilterChain::FromJson(std::string_view json,
                                                             const ChainOptions& options,
                                                             const FilterRegistry& registry,
                                                             std::string config_dir) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!impl->options.clock) impl->options.clock = Clock::System();
  impl->timers = std::make_unique<Timers>();

  config::Reader rd("filters config: ");
  ASSIGN_OR_RETURN(config::Object root, rd.ParseObject(json, {"schema_version", "compute_units",
                                                              "max_model_name_bytes", "filters"}));
  simdjson::dom::element e;
  if (root["schema_version"].get(e)) return rd.Err("schema_version", "missing (expected 1)");
  ASSIGN_OR_RETURN(int64_t schema, rd.Int(e, "schema_version", 1, 1));
  (void)schema;
  if (!root["compute_units"].get(e)) {
    ASSIGN_OR_RETURN(auto cu, rd.Object(e, "compute_units"));
    RETURN_IF_ERROR(rd.CheckKeys(cu, "compute_units", {"default_factor", "tiers", "nodes"}));
    simdjson::dom::element x;
    if (!cu["default_factor"].get(x)) {
      ASSIGN_OR_RETURN(impl->default_factor, rd.Double(x, "compute_units.default_factor", 0, 1e9));
    }
    if (!cu["tiers"].get(x)) {
      ASSIGN_OR_RETURN(auto o, rd.Object(x, "compute_units.tiers"));
      RETURN_IF_ERROR(ParseFactors(rd, o, "compute_units.tiers", &impl->tier_factor));
    }
    if (!cu["nodes"].get(x)) {
      ASSIGN_OR_RETURN(auto o, rd.Object(x, "compute_units.nodes"));
      RETURN_IF_ERROR(ParseFactors(rd, o, "compute_units.nodes", &impl->node_factor));
    }
  }
  if (!root["max_model_name_bytes"].get(e)) {
    ASSIGN_OR_RETURN(int64_t n, rd.Int(e, "max_model_name_bytes", 1, 65536));
    impl->max_model_name_bytes = static_cast<size_t>(n);
  }
  if (root["filters"].get(e)) return rd.Err("filters", "missing (an array of {\"name\", \"settings\"})");
  ASSIGN_OR_RETURN(auto list, rd.Array(e, "filters"));
  // First the list as a whole (names, order), then the filters: a refused config builds none
  // (no database opened, no file written).
  struct Entry {
    std::string where, name, settings;
  };
  std::vector<Entry> entries;
  for (auto item : list) {
    Entry entry{"filters[" + std::to_string(entries.size()) + "]", "", "{}"};
    const std::string& where = entry.where;
    ASSIGN_OR_RETURN(auto o, rd.Object(item, where));
    RETURN_IF_ERROR(rd.CheckKeys(o, where, {"name", "settings"}));
    simdjson::dom::element x;
    if (o["name"].get(x)) return rd.Err(where + ".name", "missing");
    ASSIGN_OR_RETURN(entry.name, rd.String(x, where + ".name", true));
    if (!registry.Find(entry.name)) {
      std::string known;
      for (const auto& n : registry.Names()) known += (known.empty() ? "" : ", ") + n;
      return rd.Err(where + ".name", "unknown filter '" + entry.name + "' (known: " + known + ")");
    }
    for (const auto& e : entries)
      if (e.name == entry.name) return rd.Err(where + ".name", "filter '" + entry.name + "' is listed twice");
    if (!o["settings"].get(x)) {
      if (!x.is_object()) return rd.Err(where + ".settings", "expected an object");
      entry.settings = simdjson::minify(x);
    }
    entries.push_back(std::move(entry));
  }
  for (const auto& rule : kOrderRules) {
    auto find = [&](std::string_view name) {
      return std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == name; });
    };
    auto filter = find(rule.filter), after = find(rule.after);
    if (filter != entries.end() && after != entries.end() && filter < after) {
      return rd.Err(filter->where + ".name", "'" + filter->name + "' must come after '" + after->name +
                                                 "' (" + after->where + "): " + std::string(rule.why));
    }
  }
  FilterEnv env{impl->options.clock,   impl->options.metrics,      impl->timers.get(),
                std::move(config_dir), impl->options.codec_limits, impl->options.resolve_version};
  for (const auto& entry : entries) {
    auto f = (*registry.Find(entry.name))(entry.settings, env);
    if (!f.ok()) return f.status().WithContext("filters config: " + entry.where + " (" + entry.name + ")");
    impl->names.push_back(entry.name);
    impl->filters.push_back(std::move(f).value());
  }
  return std::unique_ptr<FilterChain>(new FilterChain(std::move(impl)));
}

StatusOr<std::unique_ptr<FilterChain>> FilterChain::FromFile(const std::string& path,
                                                             const ChainOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read the filters config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto dir = std::filesystem::path(path).parent_path();
  auto chain = FromJson(ss.str(), options, FilterRegistry::BuiltIn(), dir.empty() ? "." : dir.string());
  if (!chain.ok()) return chain.status().WithContext(path);
  return chain;
}

double FilterChain::Units(double compute_ms, std::string_view tier, std::string_view node) const {
  double factor = impl_->default_factor;
  if (auto it = impl_->node_factor.find(node); it != impl_->node_factor.end()) {
    factor = it->second;
  } else if (auto t = impl_->tier_factor.find(tier); t != impl_->tier_factor.end()) {
    factor = t->second;
  }
  return compute_ms * factor;
}

http::Handler FilterChain::Wrap(http::Handler inner) {
  // The innermost stage: every real answer of the wrapped handler is charged to the request.
  Next next = [this, inner = std::move(inner)](std::shared_ptr<RequestContext> ctx, http::Request&& req,
                                               http::Responder respond) {
    inner(std::move(req), [this, ctx, respond = std::move(respond)](http::Response r) {
      // The engine time the request used (X-Continuum-Engine-Ms); from a node that does not
      // report it, its whole time on the node (X-Continuum-Compute-Ms).
      double ms = 0;
      bool reported = false;
      for (std::string_view name : {kEngineMsHeader, kComputeMsHeader}) {
        const std::string* v = ResponseHeader(r, name);
        if (!v) continue;
        reported = true;
        if (auto parsed = ParseNodeReportValue(*v)) {
          ms = *parsed;
          break;
        }
      }
      const std::string* tier = ResponseHeader(r, "x-continuum-tier");
      const std::string* node = ResponseHeader(r, "x-continuum-node");
      std::string t = tier && !tier->empty() && *tier != "none" ? *tier : impl_->options.local_tier;
      std::string n = node && !node->empty() && *node != "none" ? *node : impl_->options.local_node;
      const double units = Units(ms, t, n);  // before t and n are moved from
      ctx->AddCompute(units, ms, std::move(t), std::move(n), reported);
      respond(std::move(r));
    });
  };
  for (auto it = impl_->filters.rbegin(); it != impl_->filters.rend(); ++it) {
    Filter* f = it->get();
    next = [f, next = std::move(next)](std::shared_ptr<RequestContext> ctx, http::Request&& req,
                                       http::Responder respond) {
      f->Handle(std::move(ctx), std::move(req), std::move(respond), next);
    };
  }
  return [next = std::move(next), max_name = impl_->max_model_name_bytes](http::Request&& req,
                                                                          http::Responder respond) {
    auto ctx = std::make_shared<RequestContext>();
    ctx->start = std::chrono::steady_clock::now();
    const std::string* given = req.Header("x-request-id");
    if (given && !given->empty() && given->size() <= 128) {
      ctx->request_id = *given;
    } else {
      ctx->request_id = NewRequestId();
    }
    if (Status st = ClassifyRequest(req, ctx.get(), max_name); !st.ok()) {
      http::Response r = ErrorFor(st);
      SetHeader(r, "x-request-id", ctx->request_id);
      return respond(std::move(r));
    }
    ctx->public_route = AnyGlobMatches(DefaultPublicRoutes(), req.path);  // auth, when present, decides
    next(ctx, std::move(req), [ctx, respond = std::move(respond)](http::Response r) {
      SetHeader(r, "x-request-id", ctx->request_id);
      respond(std::move(r));
    });
  };
}

http::Handler FilterChain::AdminHandler(http::Handler others) {
  // Only one filter (auth) serves admin routes today; the first one found owns the listener.
  for (auto& f : impl_->filters)
    if (auto h = f->AdminHandler(others)) return h;
  return nullptr;
}

std::string FilterChain::admin_token_file() const {
  for (const auto& f : impl_->filters)
    if (std::string file = f->AdminTokenFile(); !file.empty()) return file;
  return {};
}

std::vector<std::string> FilterChain::filter_names() const { return impl_->names; }

}  // namespace continuum::filters
