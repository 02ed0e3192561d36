// `metering`: usage per tenant, model, tier and day in compute units (see the README for the
// formula), a daily free allowance and a budget per tenant, GET /usage for the tenant's own
// usage, and Prometheus counters. With a `database`, usage outlives the process: the rows that
// changed are saved every `flush_interval_ms` by a thread of the filter's own, and at shutdown.
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "common/json_writer.h"
#include "common/log.h"
#include "filters/internal/builtin.h"
#include "filters/internal/usage_store.h"
#include "filters/internal/util.h"
#include "telemetry/metrics.h"

namespace continuum::filters {

namespace {

struct Tally {
  uint64_t requests = 0;
  double units = 0, compute_ms = 0;
};

using UsageKey = std::tuple<std::string, std::string, std::string>;  // day, model, tier

struct TenantUsage {
  // (day, model, tier) -> tally; days are UTC "YYYY-MM-DD" and sort as text.
  std::map<UsageKey, Tally> by;
  std::map<std::string, double> units_by_day;
  double billed = 0;  // units beyond the daily free allowances, charged to the budget
};

std::string QueryParam(std::string_view query, std::string_view name) {
  size_t i = 0;
  while (i <= query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string_view::npos) j = query.size();
    std::string_view kv = query.substr(i, j - i);
    if (kv.starts_with(name) && kv.size() > name.size() && kv[name.size()] == '=') {
      return std::string(kv.substr(name.size() + 1));
    }
    i = j + 1;
  }
  return {};
}

class MeteringFilter final : public Filter {
 public:
  MeteringFilter(double daily_free, double budget, int refuse_status, size_t max_label_sets, FilterEnv& env)
      : daily_free_(daily_free), budget_(budget), refuse_status_(refuse_status), clock_(env.clock) {
    RegisterMetrics(env, max_label_sets);
  }

  ~MeteringFilter() override {
    if (!store_) return;
    {
      std::lock_guard lock(flush_mu_);
      stopping_ = true;
    }
    flush_cv_.notify_all();
    flusher_.join();
    Flush();  // what changed since the last save
  }

  // Loads the stored usage and starts saving changes every `interval`.
  Status Persist(std::unique_ptr<UsageStore> store, std::chrono::milliseconds interval) {
    ASSIGN_OR_RETURN(auto rows, store->LoadRows());
    ASSIGN_OR_RETURN(auto billed, store->LoadBilled());
    {
      std::lock_guard lock(mu_);
      for (const auto& r : rows) {
        TenantUsage& u = usage_[r.tenant];
        u.by[{r.day, r.model, r.tier}] = Tally{r.requests, r.units, r.compute_ms};
        u.units_by_day[r.day] += r.units;
      }
      for (const auto& [tenant, units] : billed) usage_[tenant].billed = units;
    }
    store_ = std::move(store);
    interval_ = interval;
    flusher_ = std::thread([this] { FlushLoop(); });
    return Status::Ok();
  }

 private:
  // Tenants, models and tiers come from requests and answers: each family holds at most
  // `max_label_sets` series, the rest fold into one "__other__" series (telemetry/metrics.h).
  void RegisterMetrics(FilterEnv& env, size_t max_label_sets) {
    if (env.metrics) {
      units_ = &env.metrics->AddCounter("continuum_usage_compute_units_total",
                                        "Compute units charged, by tenant, model and tier",
                                        {"tenant", "model", "tier"});
      requests_ = &env.metrics->AddCounter("continuum_usage_requests_total",
                                           "Requests metered, by tenant and model", {"tenant", "model"});
      refused_ =
          &env.metrics->AddCounter("continuum_usage_refused_total",
                                   "Requests refused because the tenant's budget is spent", {"tenant"});
      for (auto* f : {units_, requests_, refused_}) f->SetMaxLabelSets(max_label_sets);
    }
  }

  void FlushLoop() {
    std::unique_lock lock(flush_mu_);
    while (!stopping_) {
      flush_cv_.wait_for(lock, interval_, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Flush();
      lock.lock();
    }
  }

  // Saves the rows changed since the last save; on failure they stay marked and are tried again.
  void Flush() {
    std::vector<UsageRow> rows;
    std::map<std::string, double> billed;
    std::set<std::pair<std::string, UsageKey>> dirty;
    {
      std::lock_guard lock(mu_);
      if (dirty_.empty()) return;
      dirty.swap(dirty_);
      for (const auto& [tenant, key] : dirty) {
        const TenantUsage& u = usage_[tenant];
        const Tally& t = u.by.at(key);
        const auto& [day, model, tier] = key;
        rows.push_back(UsageRow{tenant, day, model, tier, t.requests, t.units, t.compute_ms});
        billed[tenant] = u.billed;
      }
    }
    if (Status st = store_->Save(rows, billed); !st.ok()) {
      LogWarning("metering: usage not saved, will retry: " + st.message());
      std::lock_guard lock(mu_);
      dirty_.insert(dirty.begin(), dirty.end());
    }
  }

 public:
  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    if (ctx->route == "usage") return respond(Usage(*ctx, req));
    const double free = ctx->daily_free_units >= 0 ? ctx->daily_free_units : daily_free_;
    const double budget = ctx->budget_units >= 0 ? ctx->budget_units : budget_;
    const std::string day = Today();
    if (budget >= 0) {
      std::lock_guard lock(mu_);
      TenantUsage& u = usage_[ctx->tenant];
      if (u.units_by_day[day] >= free && u.billed >= budget) {
        if (refused_) refused_->WithLabels({ctx->tenant}).Increment();
        http::Response r = JsonError(
            refuse_status_, "tenant '" + ctx->tenant +
                                "' has spent its compute budget: the daily free allowance of " +
                                FormatDouble(free) + " units is used and " + FormatDouble(u.billed) + " of " +
                                FormatDouble(budget) + " budget units are spent");
        return respond(std::move(r));
      }
    }
    next(ctx, std::move(req), [this, ctx, free, respond = std::move(respond)](http::Response r) {
      const RequestContext::Charge c = ctx->charge();
      SetHeader(r, "x-continuum-units", FormatDouble(c.units));
      // Only a model the node served gets a usage row and a series: a 404, or an error no node
      // report came with, names a model that may not exist, and such names come from the caller.
      const bool served =
          c.units > 0 || (r.status != 404 && (c.reported || (r.status >= 200 && r.status < 300)));
      if (!served) return respond(std::move(r));
      const std::string day = Today();
      const std::string tier = c.tier.empty() ? "none" : c.tier;
      {
        std::lock_guard lock(mu_);
        TenantUsage& u = usage_[ctx->tenant];
        double& today = u.units_by_day[day];
        const double free_left = std::max(0.0, free - today);
        u.billed += std::max(0.0, c.units - free_left);
        today += c.units;
        UsageKey key{day, ctx->model, tier};
        Tally& t = u.by[key];
        t.requests += 1;
        t.units += c.units;
        t.compute_ms += c.compute_ms;
        if (store_) dirty_.emplace(ctx->tenant, std::move(key));
      }
      if (units_) {
        if (c.units > 0) {
          units_->WithLabels({ctx->tenant, ctx->model, tier}).Increment(static_cast<uint64_t>(c.units + 0.5));
        }
        requests_->WithLabels({ctx->tenant, ctx->model}).Increment();
      }
      respond(std::move(r));
    });
  }

 private:
  std::string Today() const {
    const std::time_t t = std::chrono::system_clock::to_time_t(clock_->Now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
  }

  http::Response Usage(const RequestContext& ctx, const http::Request& req) {
    if (req.method != "GET")
      return ErrorFor(InvalidArgument("method " + req.method + " is not allowed on /usage"));
    // Asking for another tenant gets the answer for a tenant that does not exist.
    const std::string asked = QueryParam(req.query, "tenant");
    if (!asked.empty() && asked != ctx.tenant) return ErrorFor(NotFound("unknown tenant '" + asked + "'"));
    const double free = ctx.daily_free_units >= 0 ? ctx.daily_free_units : daily_free_;
    const double budget = ctx.budget_units >= 0 ? ctx.budget_units : budget_;
    http::Response r;
    JsonWriter w(&r.body);
    std::lock_guard lock(mu_);
    const TenantUsage& u = usage_[ctx.tenant];
    w.BeginObject().Key("tenant").String(ctx.tenant).Key("daily_free_units").Double(free).Key("budget_units");
    budget < 0 ? w.Null() : w.Double(budget);
    w.Key("billed_units").Double(u.billed).Key("days").BeginArray();
    std::string open_day;
    for (const auto& [k, t] : u.by) {
      const auto& [day, model, tier] = k;
      if (day != open_day) {
        if (!open_day.empty()) w.EndArray().EndObject();
        open_day = day;
        w.BeginObject()
            .Key("day")
            .String(day)
            .Key("units")
            .Double(u.units_by_day.at(day))
            .Key("usage")
            .BeginArray();
      }
      w.BeginObject().Key("model").String(model).Key("tier").String(tier).Key("requests").Uint(t.requests);
      w.Key("units").Double(t.units).Key("compute_ms").Double(t.compute_ms).EndObject();
    }
    if (!open_day.empty()) w.EndArray().EndObject();
    w.EndArray().EndObject();
    return r;
  }

  double daily_free_, budget_;
  int refuse_status_;
  const Clock* clock_;
  telemetry::Family<telemetry::Counter>* units_ = nullptr;
  telemetry::Family<telemetry::Counter>* requests_ = nullptr;
  telemetry::Family<telemetry::Counter>* refused_ = nullptr;
  std::mutex mu_;
  std::map<std::string, TenantUsage> usage_;
  std::set<std::pair<std::string, UsageKey>> dirty_;  // (tenant, key) changed since the last save

  std::unique_ptr<UsageStore> store_;  // null: usage lives in memory only
  std::chrono::milliseconds interval_{1000};
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeMeteringFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o,
                   rd.ParseObject(settings, {"daily_free_units", "budget_units", "refuse_status", "database",
                                             "flush_interval_ms", "max_label_sets"}));
  double free = 0, budget = -1;
  int64_t status = 402, flush_ms = 1000, max_label_sets = 1000;
  std::string db;
  simdjson::dom::element e;
  if (!o["daily_free_units"].get(e)) {
    ASSIGN_OR_RETURN(free, rd.Double(e, "daily_free_units", 0, 1e15));
  }
  if (!o["budget_units"].get(e)) {
    ASSIGN_OR_RETURN(budget, rd.Double(e, "budget_units", 0, 1e15));
  }
  if (!o["refuse_status"].get(e)) {
    ASSIGN_OR_RETURN(status, rd.Int(e, "refuse_status", 402, 429));
    if (status != 402 && status != 429) return rd.Err("refuse_status", "must be 402 or 429");
  }
  if (!o["database"].get(e)) {
    ASSIGN_OR_RETURN(db, rd.String(e, "database", true));
  }
  if (!o["flush_interval_ms"].get(e)) {
    ASSIGN_OR_RETURN(flush_ms, rd.Int(e, "flush_interval_ms", 10, 3'600'000));
  }
  if (!o["max_label_sets"].get(e)) {
    ASSIGN_OR_RETURN(max_label_sets, rd.Int(e, "max_label_sets", 1, 1'000'000));
  }
  auto filter = std::make_unique<MeteringFilter>(free, budget, static_cast<int>(status),
                                                 static_cast<size_t>(max_label_sets), env);
  if (!db.empty()) {
    if (db != ":memory:" && std::filesystem::path(db).is_relative())
      db = (std::filesystem::path(env.config_dir) / db).string();
    auto store = UsageStore::Open(db);
    if (!store.ok()) return rd.Err("database", store.status().message());
    RETURN_IF_ERROR(filter->Persist(std::move(store).value(), std::chrono::milliseconds(flush_ms)));
  }
  return std::unique_ptr<Filter>(std::move(filter));
}

}  // namespace continuum::filters
