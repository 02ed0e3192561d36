#include <gtest/gtest.h>
#include <simdjson.h>

#include "filters/filters.h"
#include "filters/internal/test_util.h"

namespace continuum::filters {
namespace {

using namespace testing;  // the helpers of filters/internal/test_util.h

struct Rig {
  // `before`: filters placed ahead of the rate limit ("{...}," each), e.g. auth.
  explicit Rig(const std::string& settings, const std::string& before = "") {
    ChainOptions o;
    o.clock = &clock;
    chain = testing::MustChain(R"({"schema_version":1,"filters":[)" + before +
                                   R"({"name":"ratelimit","settings":)" + settings + "}]}",
                               o);
    h = chain->Wrap(inner.handler());
  }
  http::Response Infer(const std::string& model = "m") {
    return Call(h, Req("POST", "/v2/models/" + model + "/infer"));
  }
  http::Response Get(const std::string& path) { return Call(h, Req("GET", path)); }
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::seconds(1000))};
  FakeInner inner;
  std::unique_ptr<FilterChain> chain;
  http::Handler h;
};

TEST(RateLimit, FixedWindowRefusesWith429AndHeaders) {
  Rig rig(R"({"window":"fixed","rules":[{"scope":"key","window_seconds":10,"requests":3}]})");
  for (int i = 0; i < 3; ++i) {
    http::Response r = rig.Infer();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(Header(r, "ratelimit-limit"), "3");
    EXPECT_EQ(Header(r, "ratelimit-remaining"), std::to_string(2 - i));
    EXPECT_EQ(Header(r, "ratelimit-reset"), "10");
  }
  rig.clock.Advance(std::chrono::seconds(4));
  http::Response r = rig.Infer();
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Header(r, "retry-after"), "6");
  EXPECT_EQ(Header(r, "ratelimit-remaining"), "0");
  EXPECT_NE(r.body.find("rate limit exceeded"), std::string::npos);
  EXPECT_EQ(rig.inner.calls, 3);
  rig.clock.Advance(std::chrono::seconds(6));
  EXPECT_EQ(rig.Infer().status, 200);
}

TEST(RateLimit, SlidingWindowWeighsThePreviousWindow) {
  Rig rig(R"({"window":"sliding","rules":[{"scope":"tenant","window_seconds":10,"requests":4}]})");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rig.Infer().status, 200);
  // Next window, 25% in: the previous 4 still weigh 3, so one more fits and the next does not.
  rig.clock.Advance(std::chrono::milliseconds(12500));
  EXPECT_EQ(rig.Infer().status, 200);
  http::Response r = rig.Infer();
  EXPECT_EQ(r.status, 429);
  // 4 * (1 - f) + 1 <= 3 needs f >= 0.5: 2.5 s more.
  EXPECT_EQ(Header(r, "retry-after"), "3");
  rig.clock.Advance(std::chrono::milliseconds(2500));
  EXPECT_EQ(rig.Infer().status, 200);
}

TEST(RateLimit, ComputeUnitsPerWindow) {
  Rig rig(R"({"window":"fixed","rules":[{"scope":"key","window_seconds":60,"units":5}]})");
  rig.inner.compute_ms = 2;  // 2 units each at factor 1
  EXPECT_EQ(rig.Infer().status, 200);
  EXPECT_EQ(rig.Infer().status, 200);
  EXPECT_EQ(rig.Infer().status, 200);  // 4 used, 1 left: admitted, overshoots to 6
  http::Response r = rig.Infer();
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("compute units"), std::string::npos);
}

TEST(RateLimit, PerModelRulesCountEachModel) {
  Rig rig(
      R"({"window":"fixed","rules":[{"scope":"model","window_seconds":60,"requests":1,"models":["big*"]}]})");
  EXPECT_EQ(rig.Infer("big1").status, 200);
  EXPECT_EQ(rig.Infer("big1").status, 429);
  EXPECT_EQ(rig.Infer("big2").status, 200);
  EXPECT_EQ(rig.Infer("small").status, 200);
  EXPECT_EQ(rig.Infer("small").status, 200);
}

TEST(RateLimit, BucketsAreBoundedWhateverTheModelNames) {
  Rig rig(
      R"({"window":"fixed","max_buckets":8,"rules":[{"scope":"model","window_seconds":60,"requests":2}]})");
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rig.Infer("known" + std::to_string(i)).status, 200);
  // The table is full: every new name shares one overflow bucket of the same limit.
  int admitted = 0;
  for (int i = 0; i < 500; ++i) admitted += rig.Infer("random-" + std::to_string(i)).status == 200;
  EXPECT_EQ(admitted, 2);
  // Names that had a bucket keep theirs.
  EXPECT_EQ(rig.Infer("known3").status, 200);
  EXPECT_EQ(rig.Infer("known3").status, 429);
  // Two windows later the idle buckets go, and new names get their own again.
  rig.clock.Advance(std::chrono::seconds(121));
  EXPECT_EQ(rig.Infer("fresh").status, 200);
  EXPECT_EQ(rig.Infer("fresh").status, 200);
  EXPECT_EQ(rig.Infer("other").status, 200);
}

// Without auth every request counts per client address; the routes that need no key (auth's
// default public_routes: the health probes) are not counted, so a liveness probe from the same
// address never gets 429 and never uses up that address's allowance.
TEST(RateLimit, PublicRoutesAreNotLimited) {
  Rig rig(R"({"window":"fixed","rules":[{"scope":"key","window_seconds":60,"requests":2}]})");
  for (int i = 0; i < 20; ++i) {
    for (const char* path : {"/v2/health/live", "/v2/health/ready"}) {
      http::Response r = rig.Get(path);
      EXPECT_EQ(r.status, 200) << path << " call " << i;
      EXPECT_EQ(Header(r, "ratelimit-limit"), "") << path;
    }
  }
  EXPECT_EQ(rig.Infer().status, 200);
  EXPECT_EQ(rig.Infer().status, 200);
  EXPECT_EQ(rig.Infer().status, 429);
  EXPECT_EQ(rig.Get("/v2/health/live").status, 200);  // still answered once the address is limited
}

// Behind auth, the public routes are auth's (here also a model's metadata): requests to them
// carry no key and are not limited; every other route still is.
TEST(RateLimit, AuthsPublicRoutesAreNotLimited) {
  Rig rig(R"({"window":"fixed","rules":[{"scope":"key","window_seconds":60,"requests":2}]})",
          std::string(R"({"name":"auth","settings":{"database":":memory:","admin_token":")") +
              testing::kAdminToken + R"(","public_routes":["/v2/health/*","/v2/models/m"]}},)");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rig.Get("/v2/health/live").status, 200);
    EXPECT_EQ(rig.Get("/v2/models/m").status, 200);
  }
  EXPECT_EQ(rig.inner.calls, 20);
  // Not a public route: no key, 401 from auth (never counted or limited here).
  EXPECT_EQ(rig.Infer().status, 401);
}

// A rule may opt in: `count_public_routes` counts and limits them like any other request.
TEST(RateLimit, PublicRoutesAreLimitedWhenARuleSaysSo) {
  Rig rig(
      R"({"window":"fixed","rules":[{"scope":"key","window_seconds":60,"requests":3,"count_public_routes":true}]})");
  EXPECT_EQ(rig.Get("/v2/health/live").status, 200);
  EXPECT_EQ(rig.Get("/v2/health/ready").status, 200);
  EXPECT_EQ(rig.Infer().status, 200);
  http::Response r = rig.Get("/v2/health/live");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Header(r, "ratelimit-limit"), "3");
}

// Auth in front, so keys and tenants are real: `key` and `tenant` rules count different things.
struct KeyedRig {
  explicit KeyedRig(const std::string& rules) {
    ChainOptions o;
    o.clock = &clock;
    chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"auth","settings":)"
                               R"({"database":":memory:","admin_token":")" +
                                   std::string(testing::kAdminToken) +
                                   R"("}},{"name":"ratelimit","settings":{"window":"fixed","rules":)" +
                                   rules + "}}]}",
                               o);
    admin = chain->AdminHandler();
    h = chain->Wrap(inner.handler());
  }
  void Tenant(const std::string& id) {
    http::Response r = Call(admin, AdminReq("POST", "/admin/tenants", R"({"id":")" + id + R"("})"));
    EXPECT_EQ(r.status, 201) << r.body;
  }
  std::string NewKey(const std::string& tenant) {
    http::Response r = Call(admin, AdminReq("POST", "/admin/tenants/" + tenant + "/keys", "{}"));
    EXPECT_EQ(r.status, 201) << r.body;
    simdjson::dom::parser p;
    std::string_view key;
    EXPECT_FALSE(p.parse(r.body)["key"].get_string().get(key)) << r.body;
    return std::string(key);
  }
  http::Response Infer(const std::string& key) {
    return Call(h, Req("POST", "/v2/models/m/infer", "{}", {{"authorization", "Bearer " + key}}));
  }
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::seconds(1000))};
  FakeInner inner;
  std::unique_ptr<FilterChain> chain;
  http::Handler admin, h;
};

TEST(RateLimit, KeyScopeGivesEachKeyOfATenantItsOwnBudget) {
  KeyedRig rig(R"([{"scope":"key","window_seconds":60,"requests":2}])");
  rig.Tenant("acme");
  rig.Tenant("other");
  const std::string k1 = rig.NewKey("acme"), k2 = rig.NewKey("acme"), k3 = rig.NewKey("other");
  ASSERT_NE(k1, k2);
  EXPECT_EQ(rig.Infer(k1).status, 200);
  EXPECT_EQ(rig.Infer(k1).status, 200);
  http::Response r = rig.Infer(k1);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("for this key"), std::string::npos) << r.body;
  // The second key of the same tenant still has its whole budget.
  http::Response second = rig.Infer(k2);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(Header(second, "ratelimit-remaining"), "1");
  EXPECT_EQ(rig.Infer(k2).status, 200);
  EXPECT_EQ(rig.Infer(k2).status, 429);
  EXPECT_EQ(rig.Infer(k3).status, 200);
  EXPECT_EQ(rig.inner.calls, 5);
}

TEST(RateLimit, TenantScopeSharesOneBudgetAcrossItsKeys) {
  KeyedRig rig(R"([{"scope":"tenant","window_seconds":60,"requests":3}])");
  rig.Tenant("acme");
  rig.Tenant("other");
  const std::string k1 = rig.NewKey("acme"), k2 = rig.NewKey("acme"), k3 = rig.NewKey("other");
  EXPECT_EQ(rig.Infer(k1).status, 200);
  http::Response r = rig.Infer(k2);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "ratelimit-remaining"), "1") << "the other key's request counted";
  EXPECT_EQ(rig.Infer(k1).status, 200);
  http::Response refused = rig.Infer(k2);
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find("for this tenant"), std::string::npos) << refused.body;
  EXPECT_EQ(rig.Infer(k1).status, 429);
  // Another tenant's key counts in its own bucket.
  EXPECT_EQ(rig.Infer(k3).status, 200);
  EXPECT_EQ(rig.inner.calls, 4);
}

TEST(RateLimit, BadSettings) {
  for (const char* s :
       {R"({"rules":[{"scope":"planet","window_seconds":1,"requests":1}]})",
        R"({"window":"rolling","rules":[]})", R"({"rules":[{"scope":"key","window_seconds":1}]})",
        R"({"max_buckets":0,"rules":[]})",
        R"({"rules":[{"scope":"key","window_seconds":1,"requests":1,"count_public_routes":"yes"}]})"}) {
    auto c = FilterChain::FromJson(
        std::string(R"({"schema_version":1,"filters":[{"name":"ratelimit","settings":)") + s + "}]}", {});
    EXPECT_FALSE(c.ok()) << s;
  }
}

}  // namespace
}  // namespace continuum::filters
