#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "filters/filters.h"
#include "filters/internal/builtin.h"
#include "filters/internal/test_util.h"
#include "filters/internal/util.h"

namespace continuum::filters {
namespace {

using namespace testing;  // the helpers of filters/internal/test_util.h

// A filter that tags requests and answers, or answers early when told to.
class TagFilter final : public Filter {
 public:
  explicit TagFilter(std::string tag) : tag_(std::move(tag)) {}
  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    if (req.Header("x-stop-at") && *req.Header("x-stop-at") == tag_) return respond(JsonError(403, tag_));
    req.headers.emplace_back("x-seen", tag_);
    next(ctx, std::move(req), [tag = tag_, respond = std::move(respond)](http::Response r) {
      r.headers.emplace_back("x-out", tag);
      respond(std::move(r));
    });
  }

 private:
  std::string tag_;
};

FilterRegistry TagRegistry() {
  FilterRegistry r;
  for (std::string n : {"a", "b"}) {
    r.Register(n, [n](std::string_view settings, FilterEnv&) -> StatusOr<std::unique_ptr<Filter>> {
      config::Reader rd("settings.");
      RETURN_IF_ERROR(rd.ParseObject(settings, {}).status());
      return std::unique_ptr<Filter>(new TagFilter(n));
    });
  }
  return r;
}

TEST(FilterChain, RunsFiltersInConfigOrderBothWays) {
  FilterRegistry reg = TagRegistry();
  auto chain =
      FilterChain::FromJson(R"({"schema_version":1,"filters":[{"name":"b"},{"name":"a"}]})", {}, reg);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  std::vector<std::string> seen;
  auto h = (*chain)->Wrap([&](http::Request&& r, http::Responder w) {
    for (auto& [k, v] : r.headers)
      if (k == "x-seen") seen.push_back(v);
    w(http::Response{});
  });
  http::Response r = Call(h, Req("GET", "/x"));
  EXPECT_EQ(seen, (std::vector<std::string>{"b", "a"}));
  std::vector<std::string> out;
  for (auto& [k, v] : r.headers)
    if (k == "x-out") out.push_back(v);
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b"}));  // inner filters see the answer first
  EXPECT_FALSE(testing::Header(r, "x-request-id").empty());
}

TEST(FilterChain, EarlyAnswerSkipsTheRest) {
  FilterRegistry reg = TagRegistry();
  auto chain =
      FilterChain::FromJson(R"({"schema_version":1,"filters":[{"name":"a"},{"name":"b"}]})", {}, reg);
  ASSERT_TRUE(chain.ok());
  FakeInner inner;
  auto h = (*chain)->Wrap(inner.handler());
  http::Response r = Call(h, Req("GET", "/x", "", {{"x-stop-at", "a"}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(inner.calls, 0);
}

TEST(FilterChain, ConfigErrorsNameTheField) {
  FilterRegistry reg = TagRegistry();
  auto bad = [&](std::string_view json) {
    auto c = FilterChain::FromJson(json, {}, reg);
    EXPECT_FALSE(c.ok()) << json;
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_NE(bad(R"({"schema_version":2,"filters":[]})").find("schema_version"), std::string::npos);
  EXPECT_NE(bad(R"({"filters":[]})").find("schema_version"), std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"filters":[],"filtres":1})").find("filtres: unknown field"),
            std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"filters":[{"name":"zz"}]})").find("unknown filter 'zz'"),
            std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"filters":[{"name":"a","setings":{}}]})").find("filters[0].setings"),
            std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"filters":[{"name":"a","settings":{"x":1}}]})").find("settings.x"),
            std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"filters":[{"name":"a"},{"name":"a"}]})").find("twice"),
            std::string::npos);
  EXPECT_NE(bad(R"({"schema_version":1,"compute_units":{"tiers":{"edge":-1}},"filters":[]})")
                .find("compute_units.tiers.edge"),
            std::string::npos);
}

TEST(FilterChain, TenantFiltersMustComeAfterAuth) {
  auto load = [](std::string_view filters) {
    return FilterChain::FromJson(
        std::string(R"({"schema_version":1,"filters":[)") + std::string(filters) + "]}", {});
  };
  // The auth settings name a database that cannot be opened: the order is refused before any
  // filter is built (no database opened, no token file written).
  const std::string auth =
      R"({"name":"auth","settings":{"database":"/nonexistent/keys.db","admin_token":"t0k"}})";
  for (std::string name : {"cache", "metering", "ratelimit"}) {
    std::string settings = name == "ratelimit"
                               ? R"(,"settings":{"rules":[{"scope":"key","window_seconds":1,"requests":1}]})"
                               : "";
    auto c = load(R"({"name":"reqlog","settings":{"path":"/nonexistent/log"}},{"name":")" + name + "\"" +
                  settings + "}," + auth);
    ASSERT_FALSE(c.ok()) << name;
    EXPECT_NE(c.status().message().find("filters[1].name: '" + name + "' must come after 'auth'"),
              std::string::npos)
        << c.status().message();
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  }
  // Without auth there is no tenant to wait for: a cache or a limit by client address is fine.
  EXPECT_TRUE(load(R"({"name":"cache"},{"name":"metering"})").ok());
  EXPECT_TRUE(
      load(R"({"name":"ratelimit","settings":{"rules":[{"scope":"key","window_seconds":1,"requests":1}]}})")
          .ok());
  // Retry may wrap auth (it only repeats what auth let through).
  auto ok = FilterChain::FromJson(
      R"({"schema_version":1,"filters":[{"name":"retry"},{"name":"auth","settings":{"database":":memory:","admin_token":"t0k"}},{"name":"ratelimit","settings":{"rules":[{"scope":"key","window_seconds":1,"requests":1}]}},{"name":"metering"},{"name":"cache"}]})",
      {});
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(FilterChain, ChargesComputeUnitsByNodeThenTier) {
  FilterRegistry reg;
  auto chain = FilterChain::FromJson(
      R"({"schema_version":1,"compute_units":{"default_factor":1,"tiers":{"edge":2},"nodes":{"n1":3}},"filters":[]})",
      {}, reg);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_DOUBLE_EQ((*chain)->Units(10, "edge", "n1"), 30);
  EXPECT_DOUBLE_EQ((*chain)->Units(10, "edge", "n2"), 20);
  EXPECT_DOUBLE_EQ((*chain)->Units(10, "cloud", "n2"), 10);
}

TEST(Classify, Routes) {
  RequestContext c;
  ASSERT_TRUE(ClassifyRequest(Req("POST", "/v2/models/m/versions/3/infer"), &c).ok());
  EXPECT_EQ(c.route, "v2_infer");
  EXPECT_EQ(c.model, "m");
  EXPECT_EQ(c.version, "3");
  RequestContext t;
  ASSERT_TRUE(ClassifyRequest(Req("POST", "/ai/run/@cf/paddle/pp-ocrv4"), &t).ok());
  EXPECT_EQ(t.route, "task");
  EXPECT_EQ(t.model, "@cf/paddle/pp-ocrv4");
  RequestContext s;
  ASSERT_TRUE(ClassifyRequest(Req("GET", "/v2/models/stats"), &s).ok());
  EXPECT_EQ(s.route, "other");
  RequestContext e;
  ASSERT_TRUE(ClassifyRequest(Req("POST", "/v1/embeddings", R"({"model":"bge","input":"x"})"), &e).ok());
  EXPECT_EQ(e.model, "bge");
}

// Every path on which the node acts for one model names that model to the filters too: auth
// scopes, cache keys and usage rows are keyed on what the node runs or describes.
TEST(Classify, TheModelIsTheOneTheNodeActsOn) {
  struct Want {
    std::string path, route, model, version;
  };
  const Want wants[] = {
      {"/accounts/acme/ai/models/@cf/baai/bge", "task_model", "@cf/baai/bge", ""},
      {"/v1/models/bge", "task_model", "bge", ""},
      {"/v2/repository/models/m/load", "other", "m", ""},
      {"/v2/repository/models/m/unload", "other", "m", ""},
      {"/ai/models/search", "task_model_search", "", ""},
      {"/accounts/acme/ai/models/search", "task_model_search", "", ""},
      {"/ai/models/search/x", "task_model", "search/x", ""},
      {"/ai/models/@cf//paddle/pp-ocrv4/", "task_model", "@cf/paddle/pp-ocrv4", ""},
      {"/v2/models/m/versions/2/ready", "v2_model", "m", "2"},
      {"/v2/models/m/versions", "v2_model", "m", ""},
      {"/ai/models", "other", "", ""},
      {"/v1/models", "other", "", ""},
  };
  for (const Want& w : wants) {
    RequestContext c;
    ASSERT_TRUE(ClassifyRequest(Req("GET", w.path), &c).ok()) << w.path;
    EXPECT_EQ(c.route, w.route) << w.path;
    EXPECT_EQ(c.model, w.model) << w.path;
    EXPECT_EQ(c.version, w.version) << w.path;
  }
}

TEST(Classify, LongModelNamesAreRefusedNamingTheField) {
  const std::string long_name(257, 'x');
  RequestContext c;
  Status st =
      ClassifyRequest(Req("POST", "/v1/embeddings", R"({"model":")" + long_name + R"(","input":"x"})"), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("model: "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("max_model_name_bytes"), std::string::npos) << st.message();
  EXPECT_TRUE(c.model.empty()) << "never kept";
  for (const std::string& path :
       {"/v2/models/" + long_name + "/infer", "/v2/models/m/versions/" + long_name + "/infer",
        "/ai/run/@cf/" + long_name, "/accounts/a/ai/run/@cf/" + long_name, "/ai/models/" + long_name,
        "/accounts/a/ai/models/" + long_name, "/v1/models/" + long_name}) {
    RequestContext d;
    st = ClassifyRequest(Req("POST", path), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << path;
    EXPECT_NE(st.message().find("path: "), std::string::npos) << st.message();
    EXPECT_LE(d.model.size() + d.version.size(), 256u) << path;
  }
  // At the limit is fine; the limit is a parameter.
  RequestContext ok;
  EXPECT_TRUE(ClassifyRequest(Req("POST", "/v2/models/" + std::string(256, 'y') + "/infer"), &ok).ok());
  EXPECT_EQ(ok.model.size(), 256u);
  RequestContext tight;
  EXPECT_FALSE(ClassifyRequest(Req("POST", "/ai/run/@cf/abc"), &tight, 6).ok());
}

TEST(FilterChain, LongModelNamesGet400BeforeAnyFilterOrTheNode) {
  FilterRegistry reg = TagRegistry();
  auto chain = FilterChain::FromJson(
      R"({"schema_version":1,"max_model_name_bytes":16,"filters":[{"name":"a"}]})", {}, reg);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  FakeInner inner;
  auto h = (*chain)->Wrap(inner.handler());
  http::Response r =
      Call(h, Req("POST", "/v1/embeddings", R"({"model":")" + std::string(17, 'm') + R"(","input":"x"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find(R"({"error":"model: )"), 0u) << r.body;
  EXPECT_FALSE(testing::Header(r, "x-request-id").empty());
  EXPECT_EQ(Call(h, Req("GET", "/v2/models/" + std::string(17, 'm'))).status, 400);
  EXPECT_EQ(inner.calls, 0);
  EXPECT_EQ(Call(h, Req("GET", "/v2/models/" + std::string(16, 'm'))).status, 200);
  EXPECT_EQ(inner.calls, 1);
  auto bad = FilterChain::FromJson(R"({"schema_version":1,"max_model_name_bytes":0,"filters":[]})", {}, reg);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("max_model_name_bytes"), std::string::npos);
}

TEST(Glob, Matches) {
  EXPECT_TRUE(GlobMatch("*", "anything/at/all"));
  EXPECT_TRUE(GlobMatch("@cf/*", "@cf/paddle/pp-ocrv4"));
  EXPECT_TRUE(GlobMatch("add_?ub", "add_sub"));
  EXPECT_FALSE(GlobMatch("add", "add_sub"));
  EXPECT_TRUE(GlobMatch("/v2/models/*/infer", "/v2/models/x/infer"));
}

TEST(RequestIds, UniqueHexWithOneProcessPrefix) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_EQ(id.substr(0, 16), seen.empty() ? id.substr(0, 16) : seen.begin()->substr(0, 16));
    EXPECT_TRUE(seen.insert(id).second) << "repeated " << id;
  }
  // The last 16 digits count the ids made (zero-padded, in order).
  const std::string a = NewRequestId(), b = NewRequestId();
  EXPECT_EQ(std::stoull(b.substr(16), nullptr, 16), std::stoull(a.substr(16), nullptr, 16) + 1)
      << a << " " << b;
}

TEST(Sha256, KnownDigest) {
  // FIPS 180-2 test vector: SHA-256("abc").
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Timers, RunInDueOrder) {
  // The later timer is set first. Should the machine stall between the two calls for longer
  // than the gap between their delays, the first one may be due before the second is set and
  // the attempt proves nothing: it is run again.
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 50) << "the two timers were never set within 25 ms of each other";
    struct State {
      std::mutex mu;
      std::string order;
      std::promise<std::string> done;
    };
    auto state = std::make_shared<State>();
    Timers t;
    const auto t0 = std::chrono::steady_clock::now();
    t.RunAfter(std::chrono::milliseconds(30), [state] {
      std::lock_guard l(state->mu);
      state->order += "b";
      state->done.set_value(state->order);
    });
    t.RunAfter(std::chrono::milliseconds(1), [state] {
      std::lock_guard l(state->mu);
      state->order += "a";
    });
    const bool clean = std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(25);
    const std::string order = state->done.get_future().get();
    if (!clean) continue;
    EXPECT_EQ(order, "ab");
    break;
  }
}

}  // namespace
}  // namespace continuum::filters
