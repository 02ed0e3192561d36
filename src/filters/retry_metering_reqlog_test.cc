#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "filters/filters.h"
#include "filters/internal/test_util.h"
#include "filters/internal/usage_store.h"
#include "telemetry/metrics.h"

namespace continuum::filters {
namespace {

using namespace testing;  // the helpers of filters/internal/test_util.h

// Fails with 503 `failures` times, then answers 200.
struct Flaky {
  std::atomic<int> calls{0};
  int failures = 2;
  http::Handler handler() {
    return [this](http::Request&&, http::Responder w) {
      http::Response r;
      r.status = calls++ < failures ? 503 : 200;
      w(std::move(r));
    };
  }
};

TEST(Retry, RetriesFiveHundredsUpToTheAttempts) {
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"retry"}]})");
  Flaky flaky;
  auto h = chain->Wrap(flaky.handler());
  EXPECT_EQ(Call(h, Req("POST", "/x")).status, 503) << "one attempt by default";
  flaky.calls = 0;
  http::Response r = Call(
      h, Req("POST", "/x", "",
             {{"cf-aig-max-attempts", "3"}, {"cf-aig-retry-delay", "5"}, {"cf-aig-backoff", "exponential"}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(flaky.calls, 3);
  EXPECT_EQ(Header(r, "x-continuum-attempts"), "3");
  flaky.calls = 0;
  EXPECT_EQ(Call(h, Req("POST", "/x", "", {{"x-continuum-max-attempts", "2"}})).status, 503);
}

TEST(Retry, TimeoutsAreRetriedThenAnswered504) {
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"retry"}]})");
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<http::Responder> parked;  // never answered in time
  auto h = chain->Wrap([&](http::Request&&, http::Responder w) {
    std::lock_guard l(mu);
    if (calls++ == 0) {
      parked.push_back(std::move(w));
    } else {
      w(http::Response{});
    }
  });
  http::Response r =
      Call(h, Req("POST", "/x", "", {{"cf-aig-request-timeout", "20"}, {"cf-aig-max-attempts", "2"}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls, 2);
  parked.clear();
  calls = 0;
  auto h2 = chain->Wrap([&](http::Request&&, http::Responder w) {
    std::lock_guard l(mu);
    ++calls;
    parked.push_back(std::move(w));
  });
  r = Call(h2, Req("POST", "/x", "", {{"cf-aig-request-timeout", "20"}}));
  EXPECT_EQ(r.status, 504);
  std::lock_guard l(mu);
  for (auto& w : parked) w(http::Response{});  // late answers are dropped
}

TEST(Retry, BadHeadersName400) {
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"retry"}]})");
  FakeInner inner;
  auto h = chain->Wrap(inner.handler());
  for (auto [k, v] : {std::pair{"cf-aig-max-attempts", "lots"},
                      {"cf-aig-max-attempts", "99"},
                      {"cf-aig-backoff", "random"},
                      {"x-continuum-request-timeout", "-1"}}) {
    http::Response r = Call(h, Req("POST", "/x", "", {{k, v}}));
    EXPECT_EQ(r.status, 400) << k;
    EXPECT_NE(r.body.find(k), std::string::npos) << r.body;
  }
}

struct MeterRig {
  explicit MeterRig(const std::string& settings, const std::string& units = "") {
    ChainOptions o;
    o.clock = &clock;
    o.metrics = &metrics;
    chain = testing::MustChain(
        R"({"schema_version":1,)" + units + R"("filters":[{"name":"metering","settings":)" + settings + "}]}",
        o);
    h = chain->Wrap(inner.handler());
  }
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20000))};
  telemetry::Registry metrics;
  FakeInner inner;
  std::unique_ptr<FilterChain> chain;
  http::Handler h;
};

TEST(Metering, ChargesComputeTimesFactorAndRefusesWhenSpent) {
  MeterRig rig(R"({"daily_free_units":10,"budget_units":5})", R"("compute_units":{"tiers":{"local":2}},)");
  rig.inner.compute_ms = 3;  // 6 units each
  EXPECT_EQ(Header(Call(rig.h, Req("POST", "/v2/models/m/infer")), "x-continuum-units"), "6");
  EXPECT_EQ(Call(rig.h, Req("POST", "/v2/models/m/infer")).status, 200);  // 12: 2 billed
  EXPECT_EQ(Call(rig.h, Req("POST", "/v2/models/m/infer")).status, 200);  // 18: 8 billed
  http::Response r = Call(rig.h, Req("POST", "/v2/models/m/infer"));
  EXPECT_EQ(r.status, 402);
  EXPECT_NE(r.body.find("budget"), std::string::npos);
  // A new day brings a new free allowance, but the budget stays spent beyond it.
  rig.clock.Advance(std::chrono::hours(24));
  EXPECT_EQ(Call(rig.h, Req("POST", "/v2/models/m/infer")).status, 200);
  http::Response usage = Call(rig.h, Req("GET", "/usage"));
  EXPECT_EQ(usage.status, 200);
  EXPECT_NE(usage.body.find("\"billed_units\":8"), std::string::npos) << usage.body;
  EXPECT_NE(usage.body.find("\"tier\":\"local\""), std::string::npos);
  EXPECT_NE(rig.metrics.Render().find(
                "continuum_usage_compute_units_total{tenant=\"\",model=\"m\",tier=\"local\"} 24"),
            std::string::npos)
      << rig.metrics.Render();
}

TEST(Metering, ChargesTheEngineTimeUsedNotTheQueueWait) {
  MeterRig rig("{}", R"("compute_units":{"tiers":{"local":2}},)");
  rig.inner.compute_ms = 10;  // on the node: 7 ms queued, then its share of a batched run
  rig.inner.engine_ms = 1.5;
  EXPECT_EQ(Header(Call(rig.h, Req("POST", "/v2/models/m/infer")), "x-continuum-units"), "3");
  http::Response usage = Call(rig.h, Req("GET", "/usage"));
  EXPECT_NE(usage.body.find("\"compute_ms\":1.5"), std::string::npos) << usage.body;
}

// A node's engine time is read as the gateway reads it (common/node_report.h): a value that is not
// wholly a number says nothing, and the time on the node is charged instead.
TEST(Metering, AnEngineTimeThatIsNotWhollyANumberFallsBackToTheComputeTime) {
  for (const char* bad : {"1.5ms", "1.5 ", "-1", "inf", "nan", "1e999", "0x10"}) {
    MeterRig rig("{}", R"("compute_units":{"tiers":{"local":2}},)");
    rig.inner.compute_ms = 10;
    rig.inner.engine_ms_text = bad;
    EXPECT_EQ(Header(Call(rig.h, Req("POST", "/v2/models/m/infer")), "x-continuum-units"), "20") << bad;
  }
}

TEST(Metering, UsageOfAnotherTenantIsNotFound) {
  MeterRig rig("{}");
  EXPECT_EQ(Call(rig.h, Req("GET", "/usage")).status, 200);
  http::Request r = Req("GET", "/usage");
  r.query = "tenant=someone";
  EXPECT_EQ(Call(rig.h, std::move(r)).status, 404);
}

TEST(Metering, UsageAndSpentBudgetSurviveARestart) {
  auto dir = std::filesystem::temp_directory_path() / ("continuum-usage-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string settings =
      R"({"daily_free_units":10,"budget_units":5,"flush_interval_ms":10,"database":")" +
      (dir / "usage.db").string() + R"("})";
  {
    MeterRig rig(settings);
    rig.inner.compute_ms = 6;
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(Call(rig.h, Req("POST", "/v2/models/m/infer")).status, 200);  // 12: 2 billed
    // The flush thread saves m's row while the filter runs (n's is saved at shutdown): wait
    // until the database holds it.
    auto saved = [&] {
      auto store = UsageStore::Open((dir / "usage.db").string());
      if (!store.ok()) return false;
      auto rows = (*store)->LoadRows();
      if (!rows.ok()) return false;
      for (const UsageRow& row : *rows)
        if (row.model == "m" && row.requests == 2) return true;
      return false;
    };
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!saved() && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(saved()) << "the flush thread never saved the usage";
    EXPECT_EQ(Call(rig.h, Req("POST", "/v2/models/n/infer")).status, 200);  // 18: 8 billed; saved at shutdown
  }
  {
    MeterRig rig(settings);  // same day (the rig's clock), a new process
    http::Response r = Call(rig.h, Req("POST", "/v2/models/m/infer"));
    EXPECT_EQ(r.status, 402) << "the spent budget is remembered";
    http::Response usage = Call(rig.h, Req("GET", "/usage"));
    EXPECT_NE(usage.body.find("\"billed_units\":8"), std::string::npos) << usage.body;
    EXPECT_NE(usage.body.find("\"units\":18"), std::string::npos) << usage.body;
    EXPECT_NE(usage.body.find("\"model\":\"m\",\"tier\":\"local\",\"requests\":2"), std::string::npos)
        << usage.body;
    EXPECT_NE(usage.body.find("\"model\":\"n\""), std::string::npos) << usage.body;
  }
  std::filesystem::remove_all(dir);
}

// Like a node: 200 with its report for the models it holds, 404 without one for any other name.
http::Handler NodeOf(std::set<std::string> models) {
  return [models = std::move(models)](http::Request&& req, http::Responder w) {
    http::Response r;
    const std::string model = req.path.substr(std::string("/v2/models/").size(),
                                              req.path.rfind("/infer") - std::string("/v2/models/").size());
    if (models.contains(model)) {
      r.headers.emplace_back("x-continuum-compute-ms", "2.000");
      r.body = "{}";
    } else {
      r.status = 404;
      r.body = R"({"error":"unknown model"})";
    }
    w(std::move(r));
  };
}

std::string RandomName(std::mt19937& rng, size_t n) {
  std::string s(n, 'a');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

TEST(Metering, OnlyModelsTheNodeServedGetRowsAndSeries) {
  auto dir =
      std::filesystem::temp_directory_path() / ("continuum-usage-unknown-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "usage.db").string();
  std::mt19937 rng(7);
  {
    MeterRig rig(R"({"flush_interval_ms":10,"database":")" + db + R"("})");
    auto h = rig.chain->Wrap(NodeOf({"m"}));
    for (int i = 0; i < 300; ++i) {
      EXPECT_EQ(Call(h, Req("POST", "/v2/models/" + RandomName(rng, 200) + "/infer")).status, 404);
    }
    EXPECT_EQ(Call(h, Req("POST", "/v2/models/m/infer")).status, 200);
    http::Response usage = Call(h, Req("GET", "/usage"));
    EXPECT_NE(usage.body.find(R"("model":"m","tier":"local","requests":1)"), std::string::npos) << usage.body;
    EXPECT_LT(usage.body.size(), 400u) << usage.body;
    const std::string m = rig.metrics.Render();
    EXPECT_NE(m.find(R"(continuum_usage_requests_total{tenant="",model="m"} 1)"), std::string::npos) << m;
    EXPECT_LT(m.size(), 2000u) << m;
  }
  auto store = UsageStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto rows = (*store)->LoadRows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].model, "m");
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST(Metering, SeriesPerFamilyAreBounded) {
  MeterRig rig(R"({"max_label_sets":3})");
  std::set<std::string> models;
  for (int i = 0; i < 50; ++i) models.insert("model-" + std::to_string(i));
  auto h = rig.chain->Wrap(NodeOf(models));
  for (const std::string& m : models)
    EXPECT_EQ(Call(h, Req("POST", "/v2/models/" + m + "/infer")).status, 200);
  const std::string r = rig.metrics.Render();
  EXPECT_NE(r.find(R"(continuum_usage_requests_total{tenant="__other__",model="__other__"} 47)"),
            std::string::npos)
      << r;
  EXPECT_NE(
      r.find(R"(continuum_metrics_label_sets_dropped_total{metric="continuum_usage_requests_total"} 47)"),
      std::string::npos)
      << r;
  EXPECT_EQ(r.find("model-9"), std::string::npos) << r;
  // The usage itself stays exact: these models were served.
  EXPECT_NE(Call(h, Req("GET", "/usage")).body.find(R"("model":"model-9")"), std::string::npos);
}

TEST(Metering, BadDatabaseSettingsNameTheField) {
  for (const char* settings :
       {R"({"database":""})", R"({"database":"/nonexistent-dir/x/usage.db"})",
        R"({"database":":memory:","flush_interval_ms":0})", R"({"max_label_sets":0})"}) {
    auto c = FilterChain::FromJson(
        std::string(R"({"schema_version":1,"filters":[{"name":"metering","settings":)") + settings + "}]}",
        ChainOptions{});
    ASSERT_FALSE(c.ok()) << settings;
    EXPECT_NE(c.status().message().find("settings."), std::string::npos) << c.status().message();
  }
}

TEST(RequestLog, WritesLinesAndRotates) {
  auto dir = std::filesystem::temp_directory_path() / ("continuum-reqlog-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "req.jsonl").string();
  {
    auto chain =
        testing::MustChain(R"({"schema_version":1,"filters":[{"name":"reqlog","settings":{"path":")" + path +
                           R"(","max_bytes":1024,"keep":2}},{"name":"cache"}]})");
    FakeInner inner;
    auto h = chain->Wrap(inner.handler());
    for (int i = 0; i < 40; ++i)
      Call(h,
           Req("POST", "/v2/models/m/infer", "{\"inputs\":[]}", {{"x-request-id", "r" + std::to_string(i)}}));
  }  // the writer drains on destruction
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  EXPECT_LE(std::filesystem::file_size(path), 1024u);
  std::ifstream in(path);
  std::string last, line;
  while (std::getline(in, line)) last = line;
  EXPECT_NE(last.find("\"id\":\"r39\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"model\":\"m\""), std::string::npos);
  EXPECT_NE(last.find("\"status\":200"), std::string::npos);
  EXPECT_NE(last.find("\"cache\":\"HIT\""), std::string::npos);
  EXPECT_EQ(last.find("request_body"), std::string::npos) << "no payloads unless asked";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace continuum::filters
